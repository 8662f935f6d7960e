//! Argo Rollouts' `successCondition` / `failureCondition` (expr-lang expressions over the
//! query's `result`) as a KULTA `thresholdRange`, when the expression is one.
//!
//! Converted: comparisons of `result[0]` (or `result`) with a number (`<`, `<=`, `>`, `>=`,
//! `==`, either side), joined by `&&` in a success condition (a range) or by `||` in a failure
//! condition (the outside of a range). A strict bound becomes an inclusive one: KULTA's range
//! includes its bounds. Everything else is refused with the reason.

use kulta::spec::ThresholdRange;

/// Which condition an expression is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `successCondition`: true means the measurement passed.
    Success,
    /// `failureCondition`: true means the measurement failed.
    Failure,
}

/// Why an expression cannot be a threshold range.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("{expression:?} cannot be converted: {reason}")]
pub struct Refused {
    /// The expression as written.
    pub expression: String,
    /// Why.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Result,
    Number(f64),
    Index(i64),
    Op(Op),
    And,
    Or,
    Other(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    /// The same comparison with its sides swapped (`3 < x` is `x > 3`).
    fn flipped(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            Op::Eq => Op::Eq,
        }
    }

    /// The comparison that holds exactly when this one does not (ignoring `==`).
    fn negated(self) -> Option<Op> {
        match self {
            Op::Lt => Some(Op::Ge),
            Op::Le => Some(Op::Gt),
            Op::Gt => Some(Op::Le),
            Op::Ge => Some(Op::Lt),
            Op::Eq => None,
        }
    }
}

/// The range of values the condition calls a success.
pub fn to_range(expression: &str, role: Role) -> Result<ThresholdRange, Refused> {
    let refuse = |reason: &str| Refused {
        expression: expression.to_string(),
        reason: reason.to_string(),
    };
    let tokens = tokenize(expression).map_err(|reason| refuse(&reason))?;
    if tokens.is_empty() {
        return Err(refuse("it is empty"));
    }
    let joiner = match role {
        Role::Success => Token::And,
        Role::Failure => Token::Or,
    };
    let mut range = ThresholdRange::default();
    for part in tokens.split(|token| *token == joiner) {
        let (op, bound) = comparison(part).map_err(|reason| refuse(&reason))?;
        let op = match role {
            Role::Success => op,
            Role::Failure => op.negated().ok_or_else(|| {
                refuse("a failure on one exact value leaves two ranges of success; KULTA has one")
            })?,
        };
        match op {
            Op::Gt | Op::Ge => range.min = Some(range.min.map_or(bound, |min| min.max(bound))),
            Op::Lt | Op::Le => range.max = Some(range.max.map_or(bound, |max| max.min(bound))),
            Op::Eq => {
                range.min = Some(range.min.map_or(bound, |min| min.max(bound)));
                range.max = Some(range.max.map_or(bound, |max| max.min(bound)));
            }
        }
    }
    if let (Some(min), Some(max)) = (range.min, range.max)
        && min > max
    {
        return Err(refuse("no value satisfies it"));
    }
    Ok(range)
}

/// One `result[0] OP number` (or `number OP result[0]`).
fn comparison(tokens: &[Token]) -> Result<(Op, f64), String> {
    let result_index = |tokens: &[Token]| -> Result<usize, String> {
        match tokens {
            [Token::Result, Token::Index(0), ..] => Ok(2),
            [Token::Result, Token::Index(index), ..] => Err(format!(
                "it reads result[{index}]; KULTA compares the first value of a query only"
            )),
            [Token::Result, ..] => Ok(1),
            _ => Err("expected result[0]".into()),
        }
    };
    if let Some(Token::Other(word)) = tokens.iter().find(|t| matches!(t, Token::Other(_))) {
        return Err(reason_for(word));
    }
    if tokens.iter().any(|t| *t == Token::And || *t == Token::Or) {
        return Err("it mixes && and ||; KULTA's range is one interval of success".into());
    }
    match tokens.first() {
        Some(Token::Result) => {
            let used = result_index(tokens)?;
            match &tokens[used..] {
                [Token::Op(op), Token::Number(number)] => Ok((*op, *number)),
                _ => Err("expected a comparison of result[0] with a number".into()),
            }
        }
        Some(Token::Number(number)) => match tokens.get(1) {
            Some(Token::Op(op)) => {
                let used = result_index(&tokens[2..])?;
                if tokens.len() == 2 + used {
                    Ok((op.flipped(), *number))
                } else {
                    Err("expected a comparison of result[0] with a number".into())
                }
            }
            _ => Err("expected a comparison of result[0] with a number".into()),
        },
        _ => Err("expected a comparison of result[0] with a number".into()),
    }
}

/// Why a word outside the converted subset is refused.
fn reason_for(word: &str) -> String {
    match word {
        "len" => "len(result) counts the series a query returns; KULTA compares one value".into(),
        "!" | "not" | "!=" => {
            "a negation or inequality leaves two ranges of success; KULTA has one".into()
        }
        "isNaN" | "isInf" => {
            "KULTA already treats NaN and ±Inf as inconclusive, never as a success or failure"
                .into()
        }
        "(" | ")" => "parentheses: only a flat list of comparisons converts".into(),
        "+" | "-" | "*" | "/" | "%" => {
            "arithmetic on the result: do it in the PromQL query instead".into()
        }
        "all" | "any" | "none" | "one" | "filter" | "map" | "count" => {
            format!("{word}() looks at every series; KULTA compares the first value only")
        }
        "\"" | "'" => "it compares text; KULTA compares numbers".into(),
        other => format!("{other:?} is not a comparison of result[0] with a number"),
    }
}

fn tokenize(expression: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
            continue;
        }
        let two: String = chars[at..chars.len().min(at + 2)].iter().collect();
        match two.as_str() {
            "<=" => tokens.push(Token::Op(Op::Le)),
            ">=" => tokens.push(Token::Op(Op::Ge)),
            "==" => tokens.push(Token::Op(Op::Eq)),
            "&&" => tokens.push(Token::And),
            "||" => tokens.push(Token::Or),
            "!=" => tokens.push(Token::Other("!=".into())),
            _ => {
                let token = match c {
                    '<' => Token::Op(Op::Lt),
                    '>' => Token::Op(Op::Gt),
                    '[' => {
                        let end = chars[at..]
                            .iter()
                            .position(|c| *c == ']')
                            .ok_or("an unclosed [")?;
                        let inside: String = chars[at + 1..at + end].iter().collect();
                        let index = inside
                            .trim()
                            .parse()
                            .map_err(|_| format!("result[{inside}] is not a fixed index"))?;
                        at += end + 1;
                        tokens.push(Token::Index(index));
                        continue;
                    }
                    c if c.is_ascii_digit()
                        || (c == '-' || c == '.')
                            && chars
                                .get(at + 1)
                                .is_some_and(|n| n.is_ascii_digit() || *n == '.')
                            && !matches!(
                                tokens.last(),
                                Some(Token::Number(_) | Token::Result | Token::Index(_))
                            ) =>
                    {
                        let end = chars[at + 1..]
                            .iter()
                            .position(|c| {
                                !(c.is_ascii_alphanumeric()
                                    || matches!(c, '.' | '_')
                                    || matches!(c, '+' | '-'))
                            })
                            .map_or(chars.len(), |p| at + 1 + p);
                        let text: String = chars[at..end].iter().filter(|c| **c != '_').collect();
                        let number = text
                            .parse()
                            .map_err(|_| format!("{text:?} is not a number"))?;
                        at = end;
                        tokens.push(Token::Number(number));
                        continue;
                    }
                    c if c.is_alphabetic() || c == '_' => {
                        let end = chars[at..]
                            .iter()
                            .position(|c| !(c.is_alphanumeric() || *c == '_'))
                            .map_or(chars.len(), |p| at + p);
                        let word: String = chars[at..end].iter().collect();
                        at = end;
                        tokens.push(match word.as_str() {
                            "result" => Token::Result,
                            "and" => Token::And,
                            "or" => Token::Or,
                            _ => Token::Other(word),
                        });
                        continue;
                    }
                    other => Token::Other(other.to_string()),
                };
                tokens.push(token);
                at += 1;
                continue;
            }
        }
        at += 2;
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: Option<f64>, max: Option<f64>) -> ThresholdRange {
        ThresholdRange { min, max }
    }

    #[test]
    fn simple_comparisons_become_ranges() {
        let cases = [
            ("result[0] <= 0.05", range(None, Some(0.05))),
            ("result[0] < 0.05", range(None, Some(0.05))),
            ("result[0] >= 0.95", range(Some(0.95), None)),
            ("result[0] > 0.95", range(Some(0.95), None)),
            ("result >= 1", range(Some(1.0), None)),
            ("0.95 <= result[0]", range(Some(0.95), None)),
            ("result[0] == 1", range(Some(1.0), Some(1.0))),
            (
                "result[0] >= 0.1 && result[0] <= 0.5",
                range(Some(0.1), Some(0.5)),
            ),
            (
                "result[0] > -1e-3 and result[0] < 2.5e2",
                range(Some(-0.001), Some(250.0)),
            ),
        ];
        for (expression, expected) in cases {
            assert_eq!(
                to_range(expression, Role::Success),
                Ok(expected),
                "{expression}"
            );
        }
    }

    #[test]
    fn failure_conditions_are_inverted() {
        assert_eq!(
            to_range("result[0] > 0.05", Role::Failure),
            Ok(range(None, Some(0.05)))
        );
        assert_eq!(
            to_range("result[0] < 0.1 || result[0] > 0.9", Role::Failure),
            Ok(range(Some(0.1), Some(0.9)))
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let refused = [
            ("len(result) > 0", "len(result) counts the series"),
            ("result[0] >= 0.9 || result[0] == 0", "mixes"),
            ("result[1] < 3", "first value"),
            ("isNaN(result[0]) || result[0] > 1", "NaN"),
            ("all(result, # < 0.5)", "every series"),
            ("result[0] != 0", "inequality"),
            ("result[0] > 5 && result[0] < 1", "no value"),
            ("result == 'true'", "text"),
        ];
        for (expression, reason) in refused {
            let error = to_range(expression, Role::Success).unwrap_err();
            assert!(
                error.reason.contains(reason),
                "{expression}: {}",
                error.reason
            );
            assert!(error.to_string().starts_with(&format!("{expression:?}")));
        }
    }
}
