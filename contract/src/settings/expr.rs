//! Counts written as arithmetic on `cpu_count`, so `rg.toml` can say what
//! Gunicorn's docs say: `workers = "cpu_count * 2 + 1"`.
//!
//! The grammar is the usual one: integers, `cpu_count`, `+ - * /` with
//! precedence, and parentheses. Division rounds down.

/// Evaluates `text` with `cpu_count` bound to `cpus`.
pub fn eval(text: &str, cpus: u64) -> Result<u64, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
        cpus,
    };
    let value = parser.sum()?;
    if parser.pos != tokens.len() {
        return Err(format!("unexpected `{}`", tokens[parser.pos]));
    }
    u64::try_from(value).map_err(|_| format!("`{text}` is negative"))
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_ascii_alphanumeric() || **c == '_') {
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        } else if "+-*/()".contains(c) {
            tokens.push(c.to_string());
            chars.next();
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    if tokens.is_empty() {
        return Err("empty".into());
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [String],
    pos: usize,
    cpus: u64,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn sum(&mut self) -> Result<i128, String> {
        let mut value = self.product()?;
        while let Some(op @ ("+" | "-")) = self.peek() {
            let add = op == "+";
            self.pos += 1;
            let rhs = self.product()?;
            value = if add {
                value.checked_add(rhs)
            } else {
                value.checked_sub(rhs)
            }
            .ok_or("too large")?;
        }
        Ok(value)
    }

    fn product(&mut self) -> Result<i128, String> {
        let mut value = self.atom()?;
        while let Some(op @ ("*" | "/")) = self.peek() {
            let mul = op == "*";
            self.pos += 1;
            let rhs = self.atom()?;
            value = if mul {
                value.checked_mul(rhs).ok_or("too large")?
            } else if rhs == 0 {
                return Err("division by zero".into());
            } else {
                value.div_euclid(rhs)
            };
        }
        Ok(value)
    }

    fn atom(&mut self) -> Result<i128, String> {
        let token = self.peek().ok_or("the expression ends too early")?.to_string();
        self.pos += 1;
        match token.as_str() {
            "cpu_count" => Ok(i128::from(self.cpus)),
            "(" => {
                let value = self.sum()?;
                if self.peek() != Some(")") {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(value)
            }
            t => t
                .parse::<u64>()
                .map(i128::from)
                .map_err(|_| format!("unknown name `{t}` (only numbers and cpu_count)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::eval;

    #[test]
    fn evaluates_gunicorns_rule_of_thumb() {
        assert_eq!(eval("cpu_count * 2 + 1", 4), Ok(9));
        assert_eq!(eval("cpu_count", 2), Ok(2));
        assert_eq!(eval("8", 2), Ok(8));
        assert_eq!(eval("(cpu_count + 1) / 2", 3), Ok(2));
        // Each product fits in the evaluator's integers; their sum does not.
        let term = format!("{} * {}", u64::MAX, 1u64 << 62);
        let huge = format!("{term} + {term} + {term}");
        assert!(eval(&huge, 1).unwrap_err().contains("too large"));
        assert_eq!(eval("cpu_count - 1", 4), Ok(3));
    }

    #[test]
    fn explains_what_it_cannot_read() {
        assert!(eval("cpus * 2", 2).unwrap_err().contains("unknown name `cpus`"));
        assert!(eval("cpu_count *", 2).unwrap_err().contains("ends too early"));
        assert!(eval("1 - 3", 2).unwrap_err().contains("negative"));
        assert!(eval("2 / 0", 2).unwrap_err().contains("division by zero"));
        assert!(eval("", 2).is_err());
        assert!(eval("2 2", 2).unwrap_err().contains("unexpected `2`"));
    }
}
