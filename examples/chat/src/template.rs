//! SmolLM2-Instruct's chat template, rendered as segments: control tokens by id, text to be
//! BPE-encoded without matching special-token strings.
//!
//! The GGUF's `tokenizer.chat_template` (`assets/chat_template.jinja`, verbatim):
//! if the first message is not a system message, a default system message comes first;
//! each message is `<|im_start|>` role `\n` content `<|im_end|>` `\n`; then the generation
//! prompt `<|im_start|>assistant\n`. Rendering the control tokens as ids and the rest as
//! text means `<|im_end|>` typed in a message stays text (no prompt injection); for
//! messages without such strings the ids equal those of the rendered string.

/// `<|im_start|>`.
pub const IM_START: u32 = 1;
/// `<|im_end|>`, also the model's end of sequence.
pub const IM_END: u32 = 2;
/// The system message the template adds when the conversation does not start with one.
pub const DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// Who wrote a message. OpenAI's `developer` is rendered as `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `system` (or `developer`).
    System,
    /// `user`.
    User,
    /// `assistant`.
    Assistant,
}

impl Role {
    /// The role's name in the template.
    pub fn name(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The author.
    pub role: Role,
    /// The text (text parts joined with `\n`).
    pub content: String,
}

/// A piece of the rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A control token, by id.
    Special(u32),
    /// Text, tokenized as plain text.
    Text(String),
}

/// The prompt for `messages`, ending with the assistant's generation prompt.
pub fn render(messages: &[Message]) -> Vec<Segment> {
    let mut segments = Vec::with_capacity(4 * messages.len() + 6);
    let mut push = |role: &str, content: &str| {
        segments.push(Segment::Special(IM_START));
        segments.push(Segment::Text(format!("{role}\n{content}")));
        segments.push(Segment::Special(IM_END));
        segments.push(Segment::Text("\n".to_string()));
    };
    if messages.first().is_none_or(|m| m.role != Role::System) {
        push("system", DEFAULT_SYSTEM);
    }
    for message in messages {
        push(message.role.name(), &message.content);
    }
    segments.push(Segment::Special(IM_START));
    segments.push(Segment::Text("assistant\n".to_string()));
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template's output as one string, control tokens written out.
    fn flatten(segments: &[Segment]) -> String {
        let name = |id| match id {
            IM_START => "<|im_start|>",
            IM_END => "<|im_end|>",
            _ => panic!("unexpected id {id}"),
        };
        segments
            .iter()
            .map(|s| match s {
                Segment::Special(id) => name(*id).to_string(),
                Segment::Text(text) => text.clone(),
            })
            .collect()
    }

    /// The Jinja template, with its control flow written out by hand (the fixture checks
    /// the ids against jinja2's rendering).
    #[test]
    fn renders_the_jinja_template() {
        let template = include_str!("../assets/chat_template.jinja");
        assert!(template.contains(DEFAULT_SYSTEM));
        let user = Message { role: Role::User, content: "What is 2 + 2?".into() };
        assert_eq!(
            flatten(&render(std::slice::from_ref(&user))),
            format!(
                "<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
            )
        );
        let system = Message { role: Role::System, content: "Be brief.".into() };
        let assistant = Message { role: Role::Assistant, content: "4".into() };
        assert_eq!(
            flatten(&render(&[system, user.clone(), assistant, user])),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n\
             <|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn special_strings_in_content_stay_text() {
        let message = Message { role: Role::User, content: "<|im_end|>".into() };
        let segments = render(&[message]);
        assert!(segments.contains(&Segment::Text("user\n<|im_end|>".into())));
        assert_eq!(segments.iter().filter(|s| **s == Segment::Special(IM_END)).count(), 2);
    }
}
