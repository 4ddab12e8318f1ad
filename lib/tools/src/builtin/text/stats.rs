//! text_stats: counts (characters, bytes, words, lines, sentences, paragraphs), average word
//! length, the most frequent words and a reading time. Words and sentences follow the Unicode
//! segmentation rules (UAX #29), so "don't" is one word and "Dr. Smith" may be two sentences.

use std::collections::HashMap;

use serde_json::{Value, json};
use unicode_segmentation::UnicodeSegmentation;

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// Common English words left out of most_frequent when exclude_stop_words is set.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "text_stats",
        category: "text",
        description: "Counts the characters, bytes, words, unique words, lines, sentences and \
                      paragraphs of a text, with the average word and sentence length, the most \
                      frequent words (optionally without English stop words) and an estimated \
                      reading time.",
        schema: json!({
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "The text to measure."},
                "top_n": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 1000,
                    "description": "How many most frequent words to list (default 10; 0 for \
                        none). Words are compared in lower case; ties go alphabetically."
                },
                "exclude_stop_words": {
                    "type": "boolean",
                    "description": "Leave common English words (the, and, of, ...) out of the \
                        most frequent words (default false)."
                },
                "words_per_minute": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10000,
                    "description": "Reading speed for the reading time (default 200)."
                }
            },
            "required": ["text"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "Counts of a short text",
                json!({"text": "The cat sat.\nThe cat ran!\n\nA new paragraph here.", "top_n": 2}),
                json!({"words": 10, "lines": 4, "sentences": 3, "paragraphs": 2,
                       "unique_words": 8, "characters": 48,
                       "most_frequent": [{"word": "cat", "count": 2},
                                         {"word": "the", "count": 2}]}),
            ),
            Example::new(
                "Most frequent words without stop words",
                json!({"text": "the data and the model and the data", "top_n": 1,
                       "exclude_stop_words": true}),
                json!({"most_frequent": [{"word": "data", "count": 2}]}),
            ),
            Example::new(
                "Reading time of 400 words at 200 per minute",
                json!({"text": "word ".repeat(400), "top_n": 0}),
                json!({"words": 400, "reading_time_seconds": 120, "reading_time_minutes": 2.0}),
            ),
            Example::fails("The text is required", json!({"top_n": 3}), ErrorType::Validation),
        ],
        run,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let text = p.str("text")?;
    let top_n = usize::try_from(p.u64_or("top_n", 10)?).unwrap_or(usize::MAX);
    let skip_stop_words = p.bool_or("exclude_stop_words", false)?;
    let wpm = p.u64_or("words_per_minute", 200)?.max(1);

    let mut words = 0usize;
    let mut word_chars = 0usize;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (i, word) in text.unicode_words().enumerate() {
        if i % 8192 == 0 {
            cx.check()?;
        }
        words += 1;
        word_chars += word.chars().count();
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
    // A plain loop: Iterator::count on these iterators asks for a size_hint, which
    // unicode-segmentation 1.13 computes with an overflowing subtraction on empty text.
    let mut sentences = 0usize;
    for sentence in text.unicode_sentences() {
        if sentence.chars().any(char::is_alphanumeric) {
            sentences += 1;
        }
    }
    let mut paragraphs = 0;
    let mut in_paragraph = false;
    for line in text.lines() {
        let blank = line.trim().is_empty();
        if !blank && !in_paragraph {
            paragraphs += 1;
        }
        in_paragraph = !blank;
    }
    let unique_words = counts.len();
    let mut frequent: Vec<(String, usize)> = counts
        .into_iter()
        .filter(|(w, _)| !skip_stop_words || STOP_WORDS.binary_search(&w.as_str()).is_err())
        .collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    frequent.truncate(top_n);
    let seconds = (words as f64 * 60.0 / wpm as f64).ceil();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { round2(a as f64 / b as f64) };
    Ok(json!({
        "characters": text.chars().count(),
        "characters_no_whitespace": text.chars().filter(|c| !c.is_whitespace()).count(),
        "bytes": text.len(),
        "words": words,
        "unique_words": unique_words,
        "lines": text.lines().count(),
        "sentences": sentences,
        "paragraphs": paragraphs,
        "average_word_length": ratio(word_chars, words),
        "average_sentence_length": ratio(words, sentences),
        "most_frequent": frequent
            .into_iter()
            .map(|(word, count)| json!({"word": word, "count": count}))
            .collect::<Vec<_>>(),
        "reading_time_seconds": seconds as u64,
        "reading_time_minutes": round2(seconds / 60.0),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::testing::{fails, ok, registry};
    use crate::ErrorType;

    fn stats(params: Value) -> Value {
        ok(&registry(), "text_stats", params)
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(super::STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn counts() {
        let text =
            "Hello, wörld! Don't panic.\nSecond line here?\n\n\n  Third paragraph: 42 apples.\n";
        let v = stats(json!({"text": text}));
        assert_eq!(v["characters"], text.chars().count());
        assert_eq!(v["bytes"], text.len());
        assert_eq!(v["words"], 11, "{v}");
        assert_eq!(v["lines"], 5);
        assert_eq!(v["sentences"], 4);
        assert_eq!(v["paragraphs"], 2);
        assert_eq!(v["unique_words"], 11);
        assert_eq!(
            v["characters_no_whitespace"],
            text.chars().filter(|c| !c.is_whitespace()).count()
        );
        // hello wörld don't panic second line here third paragraph 42 apples
        let letters = [5, 5, 5, 5, 6, 4, 4, 5, 9, 2, 6];
        let avg = letters.iter().sum::<usize>() as f64 / 11.0;
        assert_eq!(v["average_word_length"], json!((avg * 100.0).round() / 100.0));
        assert_eq!(v["average_sentence_length"], json!(2.75));
    }

    #[test]
    fn empty_text() {
        let v = stats(json!({"text": ""}));
        for key in [
            "characters",
            "bytes",
            "words",
            "lines",
            "sentences",
            "paragraphs",
            "reading_time_seconds",
            "unique_words",
        ] {
            assert_eq!(v[key], 0, "{key}");
        }
        assert_eq!(v["average_word_length"], json!(0.0));
        assert_eq!(v["most_frequent"], json!([]));
    }

    #[test]
    fn most_frequent_words() {
        let text = "The the THE a a of cat cat dog";
        let v = stats(json!({"text": text, "top_n": 3}));
        assert_eq!(
            v["most_frequent"],
            json!([
                {"word": "the", "count": 3}, {"word": "a", "count": 2}, {"word": "cat", "count": 2}
            ])
        );
        let v = stats(json!({"text": text, "exclude_stop_words": true}));
        assert_eq!(
            v["most_frequent"],
            json!([
                {"word": "cat", "count": 2}, {"word": "dog", "count": 1}
            ])
        );
        let v = stats(json!({"text": text, "top_n": 0}));
        assert_eq!(v["most_frequent"], json!([]));
    }

    #[test]
    fn reading_time() {
        let text = "w ".repeat(250);
        let v = stats(json!({"text": text}));
        assert_eq!(v["reading_time_seconds"], 75);
        assert_eq!(v["reading_time_minutes"], json!(1.25));
        let v = stats(json!({"text": text, "words_per_minute": 100}));
        assert_eq!(v["reading_time_seconds"], 150);
        let v = stats(json!({"text": "one", "words_per_minute": 200}));
        assert_eq!(v["reading_time_seconds"], 1, "rounded up");
    }

    #[test]
    fn bad_parameters() {
        let r = registry();
        let f = |params: Value, needles: &[&str]| {
            fails(&r, "text_stats", params, ErrorType::Validation, needles)
        };
        f(json!({}), &["text", "required"]);
        f(json!({"text": "a", "top_n": -1}), &["/top_n", "minimum"]);
        f(json!({"text": "a", "words_per_minute": 0}), &["/words_per_minute", "minimum"]);
        f(json!({"text": ["a"]}), &["/text", "type"]);
    }
}
