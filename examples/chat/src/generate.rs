//! The generation loop: prefill, then sample, decode and stop, one token at a time.
//!
//! The model is a closure (`step`: ids in, the last position's logits out), so the loop
//! runs natively in tests with made-up logits.

use crate::response::FinishReason;
use crate::sampling::Sampler;
use crate::text::TextStream;

/// Where the loop reports progress (the streaming chunks).
pub trait Events {
    /// The prompt's compute succeeded.
    fn started(&mut self);
    /// A non-empty piece of the completion's text.
    fn delta(&mut self, text: &str);
}

/// Ignores progress (a non-streamed completion).
pub struct Quiet;

impl Events for Quiet {
    fn started(&mut self) {}
    fn delta(&mut self, _text: &str) {}
}

/// What one completion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The text, cut before a stop string.
    pub content: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// The sampled tokens (a final control token included).
    pub completion_tokens: usize,
}

/// What the loop needs besides the model.
pub struct Settings<'a> {
    /// Tokens to generate at most (≥ 1).
    pub max_tokens: usize,
    /// Ids below this end the completion (`<|im_end|>` among them).
    pub control_tokens: u32,
    /// Strings that end the completion.
    pub stops: Vec<String>,
    /// The bytes of a token id.
    pub token_bytes: &'a dyn Fn(u32) -> Vec<u8>,
}

/// Runs the prompt through `step`, then samples up to `settings.max_tokens` tokens,
/// feeding each back except the last.
///
/// # Errors
/// The first error of `step`.
pub fn generate<E>(
    prompt: &[u32],
    settings: Settings<'_>,
    sampler: &mut Sampler,
    mut step: impl FnMut(&[u32]) -> Result<Vec<f32>, E>,
    events: &mut impl Events,
) -> Result<Generation, E> {
    let mut logits = step(prompt)?;
    events.started();
    let mut context = prompt.to_vec();
    let mut text = TextStream::new(settings.stops);
    let mut generated = 0;
    let finish_reason = loop {
        let id = sampler.sample(&logits, &context, generated);
        generated += 1;
        context.push(id);
        if id < settings.control_tokens || text.push(&(settings.token_bytes)(id)) {
            break FinishReason::Stop;
        }
        let delta = text.delta();
        if !delta.is_empty() {
            events.delta(&delta);
        }
        if generated >= settings.max_tokens {
            break FinishReason::Length;
        }
        logits = step(&[id])?;
    };
    let rest = text.finish();
    if !rest.is_empty() {
        events.delta(&rest);
    }
    Ok(Generation { content: text.content(), finish_reason, completion_tokens: generated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::SamplingParams;

    /// Records the events.
    #[derive(Default)]
    struct Record(Vec<String>);

    impl Events for Record {
        fn started(&mut self) {
            self.0.push("<start>".into());
        }
        fn delta(&mut self, text: &str) {
            self.0.push(text.into());
        }
    }

    /// A fake model that wants to say `script` (ids), one per step: logits 1 at the
    /// wanted id, 0 elsewhere. Returns the ids it was fed.
    fn run(
        script: &[u32],
        max_tokens: usize,
        stops: &[&str],
    ) -> (Result<Generation, String>, Vec<String>, Vec<Vec<u32>>) {
        // Ids ≥ 17: byte (id − 17) of "hello €"; lower ids are control tokens.
        let bytes = |id: u32| vec!["hello €".as_bytes()[(id - 17) as usize]];
        let mut fed = Vec::new();
        let mut next = script.iter();
        let step = |ids: &[u32]| {
            fed.push(ids.to_vec());
            let mut logits = vec![0.0f32; 32];
            logits[*next.next().ok_or("the script ran out")? as usize] = 1.0;
            Ok(logits)
        };
        let settings = Settings {
            max_tokens,
            control_tokens: 17,
            stops: stops.iter().map(|s| s.to_string()).collect(),
            token_bytes: &bytes,
        };
        let mut sampler = Sampler::new(SamplingParams { temperature: 0.0, ..SamplingParams::default() }, [0; 32]);
        let mut events = Record::default();
        let result = generate(&[1, 5], settings, &mut sampler, step, &mut events);
        (result, events.0, fed)
    }

    #[test]
    fn stops_at_a_control_token() {
        let (result, events, fed) = run(&[17, 18, 2], 10, &[]);
        let expected = Generation { content: "he".into(), finish_reason: FinishReason::Stop, completion_tokens: 3 };
        assert_eq!(result, Ok(expected));
        assert_eq!(events, ["<start>", "h", "e"]);
        assert_eq!(fed, [vec![1, 5], vec![17], vec![18]]);
    }

    #[test]
    fn stops_at_max_tokens_without_feeding_the_last() {
        let (result, _, fed) = run(&[17, 18, 19], 2, &[]);
        let expected = Generation { content: "he".into(), finish_reason: FinishReason::Length, completion_tokens: 2 };
        assert_eq!(result, Ok(expected));
        assert_eq!(fed.len(), 2);
    }

    #[test]
    fn streams_whole_characters_and_stops_at_strings() {
        // "hello €": ids 17..=23, € is ids 23, 24, 25.
        let (result, events, _) = run(&[17, 18, 23, 24, 25, 19, 2], 10, &[]);
        assert_eq!(result.map(|g| g.content), Ok("he€l".into()));
        assert_eq!(events, ["<start>", "h", "e", "€", "l"]);
        let (result, events, _) = run(&[17, 18, 19, 20, 21, 2], 10, &["ll"]);
        let expected = Generation { content: "he".into(), finish_reason: FinishReason::Stop, completion_tokens: 4 };
        assert_eq!(result, Ok(expected));
        assert_eq!(events, ["<start>", "h", "e"]);
    }

    #[test]
    fn a_failed_prompt_starts_nothing() {
        let (result, events, _) = run(&[], 10, &[]);
        assert_eq!(result, Err("the script ran out".into()));
        assert!(events.is_empty());
    }
}
