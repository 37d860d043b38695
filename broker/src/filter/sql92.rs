//! SQL92 message selectors (`enablePropertyFilter`): the subset RocketMQ 4.9 accepts, parsed by
//! hand and evaluated against a message's properties with the semantics of Java's
//! `org.apache.rocketmq.filter` (an ActiveMQ selector derivative):
//!
//! - grammar: `OR` < `AND` < `=`, `<>`, `IS [NOT] NULL` < `>`, `>=`, `<`, `<=`,
//!   `[NOT] BETWEEN a AND b`, `[NOT] IN ('s', ...)` < unary `+`, `-`, `NOT` < literal, property,
//!   parentheses. Keywords are case-insensitive; identifiers are `[A-Za-z_$][A-Za-z0-9_$]*`
//!   (`TAGS` is just a property); string literals are single-quoted with `''` as the escape;
//!   integers (optional `L`), decimals with exponents, `TRUE`, `FALSE`, `NULL`; `--` line and
//!   `/* */` block comments. As in Java, parsing stops at the first token that cannot continue
//!   the expression (trailing tokens are ignored).
//! - three-valued logic: a missing property makes comparisons unknown (`NULL`), unknown is not a
//!   match; `AND`/`OR`/`NOT` propagate unknown as Java's `LogicExpression` does.
//! - property values are strings; comparing one with a number converts it (`Integer.valueOf`,
//!   `Long.valueOf` or `Double.valueOf` after the literal's type); a conversion failure makes the
//!   whole evaluation fail, which counts as "no match" (Java logs and drops the message).
//! - `>`, `>=`, `<`, `<=` between two strings compare them as doubles or fail.
//! - parse-time checks Java makes: ordering operands must be numbers or non-boolean
//!   expressions, `= NULL` is refused, `BETWEEN` bounds must be ordered, `IN` needs a property on
//!   its left, float literals must lie in `[Double.MIN_VALUE, Double.MAX_VALUE]`.
//!
//! Input is untrusted (it arrives in heartbeats and pulls): nothing here panics, and nesting is
//! bounded so a hostile expression cannot overflow the stack.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Deepest nesting of parentheses and unary operators accepted.
const MAX_DEPTH: usize = 64;
/// Longest expression accepted, in bytes (Java has no limit; ours bounds parse work).
pub const MAX_EXPRESSION_LEN: usize = 64 * 1024;
/// Compiled expressions kept (Java's parser cache holds 100).
const CACHE_CAPACITY: usize = 256;

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid MessageSelector. {0}")]
pub struct SqlParseError(pub String);

/// A value during evaluation (Java's boxed `Object`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Unknown / missing.
    Null,
    /// `Boolean`.
    Bool(bool),
    /// `Integer` (decimal literals that fit in 32 bits).
    Int(i32),
    /// `Long`.
    Long(i64),
    /// `Double`.
    Double(f64),
    /// `String` (every property value).
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Long(l) => write!(f, "{l}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

/// An evaluation failure (Java throws; the message does not match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ord4 {
    Gt,
    Ge,
    Lt,
    Le,
}

/// A compiled selector node.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A literal; `boolean` marks Java's `BooleanConstantExpression` (TRUE, FALSE, NULL).
    Const(Value),
    Prop(String),
    Neg(Box<Node>),
    Not(Box<Node>),
    BoolCast(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Eq(Box<Node>, Box<Node>),
    Cmp(Ord4, Box<Node>, Box<Node>),
    In {
        prop: String,
        list: Vec<String>,
        not: bool,
    },
}

impl Node {
    /// Java's `instanceof BooleanExpression`.
    fn is_boolean(&self) -> bool {
        match self {
            Node::Const(v) => matches!(v, Value::Bool(_) | Value::Null),
            Node::Prop(_) | Node::Neg(_) => false,
            _ => true,
        }
    }

    fn is_const(&self) -> bool {
        matches!(self, Node::Const(_))
    }
}

/// A compiled SQL92 selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    root: Node,
    source: String,
}

impl Selector {
    /// Parses an expression.
    pub fn parse(sql: &str) -> Result<Selector, SqlParseError> {
        if sql.len() > MAX_EXPRESSION_LEN {
            return Err(SqlParseError(format!(
                "expression longer than {MAX_EXPRESSION_LEN} bytes"
            )));
        }
        let mut p = Parser {
            lex: Lexer { src: sql, pos: 0 },
            peeked: Vec::new(),
            depth: 0,
        };
        let left = p.or_expr()?;
        // Java's generated parser has peeked the token after the expression; a lexical error
        // there fails the parse, anything else after it is ignored.
        p.peek(0)?;
        let root = as_boolean(left)?;
        Ok(Selector {
            root,
            source: sql.to_string(),
        })
    }

    /// The expression text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against properties: `Ok(Value::Bool(_))` or `Ok(Value::Null)`.
    pub fn evaluate<'a>(
        &self,
        props: &dyn Fn(&str) -> Option<&'a str>,
    ) -> Result<Value, EvalError> {
        eval(&self.root, props)
    }

    /// True when the message with these properties is wanted: only a definite TRUE matches;
    /// unknown and evaluation errors do not (Java's `ExpressionMessageFilter`).
    pub fn matches<'a>(&self, props: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        matches!(self.evaluate(props), Ok(Value::Bool(true)))
    }
}

/// A compiled selector or why it does not compile.
type Compiled = Result<Arc<Selector>, SqlParseError>;

/// Compiles with a small process-wide cache (Java's `SelectorParser` keeps one too): pulls of
/// the same subscription do not re-parse.
pub fn compile_cached(sql: &str) -> Result<Arc<Selector>, SqlParseError> {
    static CACHE: Mutex<Option<HashMap<String, Compiled>>> = Mutex::new(None);
    if let Ok(guard) = CACHE.lock()
        && let Some(hit) = guard.as_ref().and_then(|m| m.get(sql))
    {
        return hit.clone();
    }
    let compiled = Selector::parse(sql).map(Arc::new);
    if let Ok(mut guard) = CACHE.lock() {
        let map = guard.get_or_insert_with(HashMap::new);
        if map.len() >= CACHE_CAPACITY {
            map.clear();
        }
        map.insert(sql.to_string(), compiled.clone());
    }
    compiled
}

fn as_boolean(n: Node) -> Result<Node, SqlParseError> {
    if n.is_boolean() {
        return Ok(n);
    }
    if let Node::Prop(_) = n {
        return Ok(Node::BoolCast(Box::new(n)));
    }
    Err(SqlParseError(format!(
        "Expression will not result in a boolean value: {}",
        describe(&n)
    )))
}

fn describe(n: &Node) -> String {
    match n {
        Node::Const(v) => v.to_string(),
        Node::Prop(p) => p.clone(),
        Node::Neg(x) => format!("(- {})", describe(x)),
        _ => "expression".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Decimal(String),
    Float(String),
    Str(String),
    Id(String),
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Eof,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_id_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$'
}

fn is_id_part(c: u8) -> bool {
    is_id_start(c) || c.is_ascii_digit()
}

impl Lexer<'_> {
    fn bytes(&self) -> &[u8] {
        self.src.as_bytes()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes().get(i).copied()
    }

    /// Skips blanks and comments.
    fn skip(&mut self) -> Result<(), SqlParseError> {
        loop {
            match self.at(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c) => self.pos += 1,
                Some(b'-') if self.at(self.pos + 1) == Some(b'-') => {
                    // A line comment needs its line end (Java's token does).
                    let rest = &self.bytes()[self.pos..];
                    match rest.iter().position(|&c| c == b'\n' || c == b'\r') {
                        Some(end) => self.pos += end + 1,
                        None => return Ok(()),
                    }
                }
                Some(b'/') if self.at(self.pos + 1) == Some(b'*') => {
                    let rest = &self.src[self.pos + 2..];
                    match rest.find("*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => {
                            return Err(SqlParseError(format!(
                                "unterminated comment at {}",
                                self.pos
                            )));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn digits(&self, mut i: usize) -> usize {
        while self.at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        i
    }

    /// End of an exponent starting at `i`, if there is one.
    fn exponent(&self, i: usize) -> Option<usize> {
        if !matches!(self.at(i), Some(b'e' | b'E')) {
            return None;
        }
        let mut j = i + 1;
        if matches!(self.at(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let end = self.digits(j);
        (end > j).then_some(end)
    }

    /// Longest FLOATING_POINT_LITERAL at `start`.
    fn float_end(&self, start: usize) -> Option<usize> {
        let int_end = self.digits(start);
        if int_end > start {
            if self.at(int_end) == Some(b'.') {
                let frac_end = self.digits(int_end + 1);
                return Some(self.exponent(frac_end).unwrap_or(frac_end));
            }
            return self.exponent(int_end);
        }
        if self.at(start) == Some(b'.') {
            let frac_end = self.digits(start + 1);
            if frac_end > start + 1 {
                return Some(self.exponent(frac_end).unwrap_or(frac_end));
            }
        }
        None
    }

    /// Longest DECIMAL_LITERAL at `start`.
    fn decimal_end(&self, start: usize) -> Option<usize> {
        match self.at(start) {
            Some(b'0') => Some(start + 1),
            Some(b'1'..=b'9') => {
                let end = self.digits(start);
                Some(if matches!(self.at(end), Some(b'l' | b'L')) {
                    end + 1
                } else {
                    end
                })
            }
            _ => None,
        }
    }

    fn next(&mut self) -> Result<Tok, SqlParseError> {
        self.skip()?;
        let start = self.pos;
        let Some(c) = self.at(start) else {
            return Ok(Tok::Eof);
        };
        let two = |me: &mut Self, t| {
            me.pos += 2;
            Ok(t)
        };
        let one = |me: &mut Self, t| {
            me.pos += 1;
            Ok(t)
        };
        match c {
            b'=' => one(self, Tok::Eq),
            b'<' if self.at(start + 1) == Some(b'>') => two(self, Tok::Ne),
            b'<' if self.at(start + 1) == Some(b'=') => two(self, Tok::Le),
            b'<' => one(self, Tok::Lt),
            b'>' if self.at(start + 1) == Some(b'=') => two(self, Tok::Ge),
            b'>' => one(self, Tok::Gt),
            b'(' => one(self, Tok::LParen),
            b')' => one(self, Tok::RParen),
            b',' => one(self, Tok::Comma),
            b'+' => one(self, Tok::Plus),
            b'-' => one(self, Tok::Minus),
            b'\'' => {
                let mut out = String::new();
                let mut i = start + 1;
                loop {
                    let rest = &self.src[i..];
                    match rest.find('\'') {
                        None => {
                            return Err(SqlParseError(format!(
                                "unterminated string literal at {start}"
                            )));
                        }
                        Some(q) => {
                            out.push_str(&rest[..q]);
                            i += q + 1;
                            if self.at(i) == Some(b'\'') {
                                out.push('\'');
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                self.pos = i;
                Ok(Tok::Str(out))
            }
            b'0'..=b'9' | b'.' => {
                let f = self.float_end(start);
                let d = self.decimal_end(start);
                match (d, f) {
                    (Some(d), f) if f.is_none_or(|f| d >= f) => {
                        self.pos = d;
                        Ok(Tok::Decimal(self.src[start..d].to_string()))
                    }
                    (_, Some(f)) => {
                        self.pos = f;
                        Ok(Tok::Float(self.src[start..f].to_string()))
                    }
                    _ => Err(SqlParseError(format!(
                        "unexpected character '.' at {start}"
                    ))),
                }
            }
            c if is_id_start(c) => {
                let mut end = start + 1;
                while self.at(end).is_some_and(is_id_part) {
                    end += 1;
                }
                self.pos = end;
                let word = &self.src[start..end];
                Ok(match word.to_ascii_uppercase().as_str() {
                    "NOT" => Tok::Not,
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "BETWEEN" => Tok::Between,
                    "IN" => Tok::In,
                    "TRUE" => Tok::True,
                    "FALSE" => Tok::False,
                    "NULL" => Tok::Null,
                    "IS" => Tok::Is,
                    _ => Tok::Id(word.to_string()),
                })
            }
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('?');
                Err(SqlParseError(format!(
                    "Lexical error at {start}: unexpected character {ch:?}"
                )))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Vec<Tok>,
    depth: usize,
}

fn err<T>(msg: impl Into<String>) -> Result<T, SqlParseError> {
    Err(SqlParseError(msg.into()))
}

impl Parser<'_> {
    fn peek(&mut self, k: usize) -> Result<&Tok, SqlParseError> {
        while self.peeked.len() <= k {
            let t = self.lex.next()?;
            self.peeked.push(t);
        }
        Ok(&self.peeked[k])
    }

    fn bump(&mut self) -> Result<Tok, SqlParseError> {
        self.peek(0)?;
        Ok(self.peeked.remove(0))
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<(), SqlParseError> {
        let t = self.bump()?;
        if &t == want {
            Ok(())
        } else {
            err(format!("Encountered {t:?}, was expecting {what}"))
        }
    }

    fn enter(&mut self) -> Result<(), SqlParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(format!("expression nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Node, SqlParseError> {
        let mut left = self.and_expr()?;
        while *self.peek(0)? == Tok::Or {
            self.bump()?;
            let right = self.and_expr()?;
            left = Node::Or(Box::new(as_boolean(left)?), Box::new(as_boolean(right)?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Node, SqlParseError> {
        let mut left = self.equality()?;
        while *self.peek(0)? == Tok::And {
            self.bump()?;
            let right = self.equality()?;
            left = Node::And(Box::new(as_boolean(left)?), Box::new(as_boolean(right)?));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Node, SqlParseError> {
        let mut left = self.comparison()?;
        loop {
            match self.peek(0)? {
                Tok::Eq => {
                    self.bump()?;
                    let right = self.comparison()?;
                    left = create_equal(left, right)?;
                }
                Tok::Ne => {
                    self.bump()?;
                    let right = self.comparison()?;
                    left = Node::Not(Box::new(create_equal(left, right)?));
                }
                Tok::Is => {
                    self.bump()?;
                    match self.bump()? {
                        Tok::Null => {
                            left = Node::Eq(Box::new(left), Box::new(Node::Const(Value::Null)));
                        }
                        Tok::Not => {
                            self.expect(&Tok::Null, "NULL")?;
                            left = Node::Not(Box::new(Node::Eq(
                                Box::new(left),
                                Box::new(Node::Const(Value::Null)),
                            )));
                        }
                        t => return err(format!("Encountered {t:?} after IS")),
                    }
                }
                _ => return Ok(left),
            }
        }
    }

    fn comparison(&mut self) -> Result<Node, SqlParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek(0)? {
                Tok::Gt => Some(Ord4::Gt),
                Tok::Ge => Some(Ord4::Ge),
                Tok::Lt => Some(Ord4::Lt),
                Tok::Le => Some(Ord4::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.bump()?;
                let right = self.unary()?;
                left = create_cmp(op, left, right)?;
                continue;
            }
            let not = match (self.peek(0)?.clone(), self.peek(1)?.clone()) {
                (Tok::Between | Tok::In, _) => false,
                (Tok::Not, Tok::Between | Tok::In) => {
                    self.bump()?;
                    true
                }
                _ => return Ok(left),
            };
            match self.bump()? {
                Tok::Between => {
                    let low = self.unary()?;
                    self.expect(&Tok::And, "AND")?;
                    let high = self.unary()?;
                    left = if not {
                        create_not_between(left, low, high)?
                    } else {
                        create_between(left, low, high)?
                    };
                }
                _ => {
                    self.expect(&Tok::LParen, "(")?;
                    let mut list = vec![self.string_literal()?];
                    while *self.peek(0)? == Tok::Comma {
                        self.bump()?;
                        list.push(self.string_literal()?);
                    }
                    self.expect(&Tok::RParen, ")")?;
                    let Node::Prop(prop) = left else {
                        return err(format!(
                            "Expected a property for In expression, got: {}",
                            describe(&left)
                        ));
                    };
                    left = Node::In { prop, list, not };
                }
            }
        }
    }

    fn string_literal(&mut self) -> Result<String, SqlParseError> {
        match self.bump()? {
            Tok::Str(s) => Ok(s),
            t => err(format!("Encountered {t:?}, was expecting a string literal")),
        }
    }

    fn unary(&mut self) -> Result<Node, SqlParseError> {
        self.enter()?;
        let out = match self.peek(0)? {
            Tok::Plus => {
                self.bump()?;
                self.unary()
            }
            Tok::Minus => {
                self.bump()?;
                self.unary().map(|n| Node::Neg(Box::new(n)))
            }
            Tok::Not => {
                self.bump()?;
                self.unary()
                    .and_then(as_boolean)
                    .map(|n| Node::Not(Box::new(n)))
            }
            _ => self.primary(),
        };
        self.depth -= 1;
        out
    }

    fn primary(&mut self) -> Result<Node, SqlParseError> {
        match self.bump()? {
            Tok::Str(s) => Ok(Node::Const(Value::Str(s))),
            Tok::Decimal(t) => decimal(&t),
            Tok::Float(t) => float(&t),
            Tok::True => Ok(Node::Const(Value::Bool(true))),
            Tok::False => Ok(Node::Const(Value::Bool(false))),
            Tok::Null => Ok(Node::Const(Value::Null)),
            Tok::Id(name) => Ok(Node::Prop(name)),
            Tok::LParen => {
                self.enter()?;
                let inner = self.or_expr();
                self.depth -= 1;
                let inner = inner?;
                self.expect(&Tok::RParen, ")")?;
                Ok(inner)
            }
            t => err(format!("Encountered {t:?}, was expecting an operand")),
        }
    }
}

fn decimal(text: &str) -> Result<Node, SqlParseError> {
    let digits = text.trim_end_matches(['l', 'L']);
    let v: i64 = digits
        .parse()
        .map_err(|_| SqlParseError(format!("For input string: \"{digits}\"")))?;
    Ok(Node::Const(match i32::try_from(v) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Long(v),
    }))
}

fn float(text: &str) -> Result<Node, SqlParseError> {
    let v: f64 = text
        .parse()
        .map_err(|_| SqlParseError(format!("For input string: \"{text}\"")))?;
    if v > f64::MAX {
        return err(format!("{text} is greater than {}", f64::MAX));
    }
    // Java compares with Double.MIN_VALUE, the smallest positive double: 0.0 is refused too.
    if v < f64::from_bits(1) {
        return err(format!("{text} is less than 4.9E-324"));
    }
    Ok(Node::Const(Value::Double(v)))
}

/// `checkLessThanOperand`.
fn check_ordering_operand(n: &Node) -> Result<(), SqlParseError> {
    if let Node::Const(v) = n {
        if matches!(v, Value::Int(_) | Value::Long(_) | Value::Double(_)) {
            return Ok(());
        }
        return err(format!("Value '{v}' cannot be compared."));
    }
    if n.is_boolean() {
        return err("Value 'expression' cannot be compared.");
    }
    Ok(())
}

fn create_cmp(op: Ord4, l: Node, r: Node) -> Result<Node, SqlParseError> {
    check_ordering_operand(&l)?;
    check_ordering_operand(&r)?;
    Ok(Node::Cmp(op, Box::new(l), Box::new(r)))
}

fn create_equal(l: Node, r: Node) -> Result<Node, SqlParseError> {
    for n in [&l, &r] {
        if let Node::Const(Value::Null) = n {
            return err("'NULL' cannot be compared.");
        }
    }
    if l.is_const() && r.is_const() && l.is_boolean() && !r.is_boolean() {
        return err(format!(
            "'{}' cannot be compared with '{}'",
            describe(&l),
            describe(&r)
        ));
    }
    Ok(Node::Eq(Box::new(l), Box::new(r)))
}

fn create_between(v: Node, low: Node, high: Node) -> Result<Node, SqlParseError> {
    if let (Node::Const(lv), Node::Const(hv)) = (&low, &high) {
        if matches!(lv, Value::Null) || matches!(hv, Value::Null) {
            return err("Illegal values of between, values can not be null!");
        }
        let ord = java_compare(hv, lv).map_err(|e| SqlParseError(e.0))?;
        if ord < 0 {
            return err(format!(
                "Illegal values of between, left value({lv}) must less than or equal to right value({hv})"
            ));
        }
    }
    Ok(Node::And(
        Box::new(create_cmp(Ord4::Ge, v.clone(), low)?),
        Box::new(create_cmp(Ord4::Le, v, high)?),
    ))
}

fn create_not_between(v: Node, low: Node, high: Node) -> Result<Node, SqlParseError> {
    Ok(Node::Or(
        Box::new(create_cmp(Ord4::Lt, v.clone(), low)?),
        Box::new(create_cmp(Ord4::Gt, v, high)?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// `Integer.valueOf(String)`: optional sign, ASCII digits, 32-bit range.
fn java_int(s: &str) -> Result<i32, EvalError> {
    java_long(s).and_then(|l| i32::try_from(l).map_err(|_| nfe(s)))
}

fn nfe(s: &str) -> EvalError {
    EvalError(format!("NumberFormatException: For input string: \"{s}\""))
}

/// `Long.valueOf(String)`.
fn java_long(s: &str) -> Result<i64, EvalError> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(nfe(s));
    }
    s.parse::<i64>().map_err(|_| nfe(s))
}

/// `Double.valueOf(String)`: surrounding control/blank characters trimmed, an optional
/// `f`/`F`/`d`/`D` suffix, `NaN` and `Infinity` spelled as Java spells them.
fn java_double(s: &str) -> Result<f64, EvalError> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "NaN" {
        return Ok(f64::NAN);
    }
    if unsigned == "Infinity" {
        return Ok(if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let body = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    let b = body.strip_prefix(['+', '-']).unwrap_or(body);
    // Rust also accepts "inf"/"nan"; Java does not.
    if b.is_empty()
        || !b
            .bytes()
            .all(|c| c.is_ascii_digit() || b".eE+-".contains(&c))
    {
        return Err(nfe(s));
    }
    body.parse::<f64>().map_err(|_| nfe(s))
}

/// `Double.compare`.
fn double_cmp(a: f64, b: f64) -> i32 {
    let canon = |x: f64| if x.is_nan() { f64::NAN } else { x };
    match canon(a).total_cmp(&canon(b)) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

fn ord(o: Ordering) -> i32 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

/// `ComparisonExpression.__compare` with string conversion on (RocketMQ's default): widens
/// numbers, converts a string to the other side's type, and answers -1 for incomparable types.
fn java_compare(lv: &Value, rv: &Value) -> Result<i32, EvalError> {
    use Value::*;
    Ok(match (lv, rv) {
        (Bool(a), Bool(b)) => ord(a.cmp(b)),
        (Int(a), Int(b)) => ord(a.cmp(b)),
        (Long(a), Long(b)) => ord(a.cmp(b)),
        (Double(a), Double(b)) => double_cmp(*a, *b),
        (Str(a), Str(b)) => ord(a.encode_utf16().cmp(b.encode_utf16())),
        // Java casts the Boolean to String here and throws ClassCastException.
        (Bool(_), Str(_)) => return Err(EvalError("ClassCastException".into())),
        (Int(a), Long(b)) => ord(i64::from(*a).cmp(b)),
        (Long(a), Int(b)) => ord(a.cmp(&i64::from(*b))),
        (Int(a), Double(b)) => double_cmp(f64::from(*a), *b),
        (Long(a), Double(b)) => double_cmp(*a as f64, *b),
        (Double(a), Int(b)) => double_cmp(*a, f64::from(*b)),
        (Double(a), Long(b)) => double_cmp(*a, *b as f64),
        (Int(a), Str(b)) => ord(a.cmp(&java_int(b)?)),
        (Long(a), Str(b)) => ord(a.cmp(&java_long(b)?)),
        (Double(a), Str(b)) => double_cmp(*a, java_double(b)?),
        (Str(a), Bool(b)) => ord(a.eq_ignore_ascii_case("true").cmp(b)),
        (Str(a), Int(b)) => ord(java_int(a)?.cmp(b)),
        (Str(a), Long(b)) => ord(java_long(a)?.cmp(b)),
        (Str(a), Double(b)) => double_cmp(java_double(a)?, *b),
        _ => -1,
    })
}

fn as_bool(v: Value) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        other => Err(EvalError(format!(
            "ClassCastException: {other} is not a Boolean"
        ))),
    }
}

fn from_opt(b: Option<bool>) -> Value {
    b.map_or(Value::Null, Value::Bool)
}

fn eval<'a>(n: &Node, props: &dyn Fn(&str) -> Option<&'a str>) -> Result<Value, EvalError> {
    Ok(match n {
        Node::Const(v) => v.clone(),
        Node::Prop(name) => props(name).map_or(Value::Null, |s| Value::Str(s.to_string())),
        Node::Neg(x) => match eval(x, props)? {
            Value::Int(i) => Value::Int(i.wrapping_neg()),
            Value::Long(l) => Value::Long(l.wrapping_neg()),
            Value::Double(d) => Value::Double(-d),
            _ => Value::Null,
        },
        Node::Not(x) => from_opt(as_bool(eval(x, props)?)?.map(|b| !b)),
        Node::BoolCast(x) => match eval(x, props)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            _ => Value::Bool(false),
        },
        Node::And(l, r) => {
            let lv = as_bool(eval(l, props)?)?;
            if lv == Some(false) {
                return Ok(Value::Bool(false));
            }
            let rv = as_bool(eval(r, props)?)?;
            if rv == Some(false) {
                return Ok(Value::Bool(false));
            }
            if lv.is_none() || rv.is_none() {
                Value::Null
            } else {
                Value::Bool(true)
            }
        }
        Node::Or(l, r) => {
            let lv = as_bool(eval(l, props)?)?;
            if lv == Some(true) {
                return Ok(Value::Bool(true));
            }
            let rv = as_bool(eval(r, props)?)?;
            if rv == Some(true) {
                return Ok(Value::Bool(true));
            }
            if lv.is_none() || rv.is_none() {
                Value::Null
            } else {
                Value::Bool(false)
            }
        }
        Node::Eq(l, r) => {
            let lv = eval(l, props)?;
            let rv = eval(r, props)?;
            match (&lv, &rv) {
                (Value::Null, Value::Null) => Value::Bool(true),
                (Value::Null, _) => Value::Null,
                (_, Value::Null) => Value::Bool(false),
                _ if java_equals(&lv, &rv) => Value::Bool(true),
                _ => Value::Bool(java_compare(&lv, &rv)? == 0),
            }
        }
        Node::Cmp(op, l, r) => {
            let lv = eval(l, props)?;
            if lv == Value::Null {
                return Ok(Value::Null);
            }
            let rv = eval(r, props)?;
            if rv == Value::Null {
                return Ok(Value::Null);
            }
            let c = match (&lv, &rv) {
                (Value::Str(a), Value::Str(b)) => double_cmp(java_double(a)?, java_double(b)?),
                _ => java_compare(&lv, &rv)?,
            };
            Value::Bool(match op {
                Ord4::Gt => c > 0,
                Ord4::Ge => c >= 0,
                Ord4::Lt => c < 0,
                Ord4::Le => c <= 0,
            })
        }
        Node::In { prop, list, not } => match props(prop) {
            None => Value::Null,
            Some(v) => Value::Bool(list.iter().any(|x| x == v) ^ not),
        },
    })
}

/// `Object.equals` between two values of possibly different boxed types.
fn java_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => double_cmp(*x, *y) == 0,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn m(sql: &str, props: &[(&str, &str)]) -> bool {
        let map: HashMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s = Selector::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        s.matches(&|k| map.get(k).map(String::as_str))
    }

    #[test]
    fn issue_example_between_and_string() {
        let sql = "a BETWEEN 3 AND 6 AND b = 'x'";
        for a in 0..10 {
            let want = (3..=6).contains(&a);
            assert_eq!(m(sql, &[("a", &a.to_string()), ("b", "x")]), want, "a={a}");
            assert!(!m(sql, &[("a", &a.to_string()), ("b", "y")]));
        }
        assert!(!m(sql, &[("b", "x")]), "missing property never matches");
    }

    #[test]
    fn comparisons_and_numbers() {
        assert!(m("a > 3", &[("a", "4")]));
        assert!(!m("a > 3", &[("a", "3")]));
        assert!(m("a >= 3", &[("a", "3")]));
        assert!(m("a < 3.5", &[("a", "3.4")]));
        assert!(m("a <= 3", &[("a", "3")]));
        assert!(m("a = 3", &[("a", "3")]));
        assert!(m("a <> 3", &[("a", "4")]));
        assert!(m("a > -3", &[("a", "-2")]));
        assert!(m("a = 10000000000", &[("a", "10000000000")]));
        assert!(m("a > 2.5E1", &[("a", "26")]));
        // Both sides properties: compared as doubles.
        assert!(m("a < b", &[("a", "9"), ("b", "10")]));
        // A value that is not a number fails the evaluation: no match, either way.
        assert!(!m("a > 3", &[("a", "abc")]));
        assert!(!m("a <> 3", &[("a", "abc")]));
        assert!(!m("a = 3 OR b = 'y'", &[("a", "abc"), ("b", "y")]));
        // Decimal property against an integer literal: Integer.valueOf fails.
        assert!(!m("a = 3", &[("a", "3.0")]));
        assert!(m("a = 3.0", &[("a", "3")]));
    }

    #[test]
    fn strings_booleans_in_null() {
        assert!(m("TAGS = 'TagA'", &[("TAGS", "TagA")]));
        assert!(m("TAGS IN ('TagA', 'TagB')", &[("TAGS", "TagB")]));
        assert!(!m("TAGS IN ('TagA', 'TagB')", &[("TAGS", "TagC")]));
        assert!(m("TAGS NOT IN ('TagA')", &[("TAGS", "TagC")]));
        assert!(
            !m("TAGS NOT IN ('TagA')", &[]),
            "NOT IN of a missing property is unknown"
        );
        assert!(m("a IS NULL", &[]));
        assert!(!m("a IS NULL", &[("a", "1")]));
        assert!(m("a IS NOT NULL", &[("a", "1")]));
        assert!(m("s = 'it''s'", &[("s", "it's")]));
        assert!(m("f = TRUE", &[("f", "true")]));
        assert!(m("f = TRUE", &[("f", "TRUE")]));
        assert!(m("f = FALSE", &[("f", "no")]));
        assert!(m("TRUE", &[]));
        assert!(!m("FALSE", &[]));
        assert!(
            !m("a", &[("a", "true")]),
            "a string property cast to boolean is false"
        );
        assert!(m("a NOT BETWEEN 3 AND 6", &[("a", "7")]));
        assert!(!m("a NOT BETWEEN 3 AND 6", &[("a", "5")]));
    }

    #[test]
    fn three_valued_logic() {
        assert!(m("a = 1 OR b = 2", &[("b", "2")]));
        assert!(!m("NOT (a = 1)", &[]));
        assert!(m("NOT (a = 1)", &[("a", "2")]));
        assert!(!m("a = 1 AND b = 2", &[("a", "1")]));
        assert!(m(
            "(a = 1 OR a = 2) AND NOT (b > 5)",
            &[("a", "2"), ("b", "4")]
        ));
        // NOT binds tighter than comparisons, as in Java: `(NOT b) > 5` cannot be compared.
        assert!(Selector::parse("NOT b > 5").is_err());
        assert!(m(
            "x = 'v' -- comment\n AND y = 1",
            &[("x", "v"), ("y", "1")]
        ));
        assert!(m("x = /* c */ 'v'", &[("x", "v")]));
        assert!(m(
            "a between 1 and 2 and B = 'q'",
            &[("a", "1"), ("B", "q")]
        ));
    }

    #[test]
    fn parse_errors_like_java() {
        for bad in [
            "",
            "a >",
            "a = NULL",
            "a > 'x'",
            "a > TRUE",
            "a BETWEEN 6 AND 3",
            "a BETWEEN 'a' AND 'b'",
            "3 IN ('a')",
            "a IN (1, 2)",
            "1",
            "'x'",
            "a = 0.0",
            "a = 99999999999999999999",
            "TRUE = 1",
            "(a = 1",
            "a = 'unterminated",
            "a # 1",
            "a = 1 AND",
            "a IS 3",
            "a != 1",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?} must be refused");
        }
        // Java ignores what follows a complete expression.
        assert!(Selector::parse("a = 1 b = 2").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Selector::parse(&deep).is_err());
        let nots = format!("{}a = 1", "NOT ".repeat(10_000));
        assert!(Selector::parse(&nots).is_err());
        let ok = format!("{}a = 1{}", "(".repeat(20), ")".repeat(20));
        assert!(Selector::parse(&ok).is_ok());
    }

    #[test]
    fn cache_returns_same_result() {
        let a = compile_cached("k = 'v'").unwrap();
        let b = compile_cached("k = 'v'").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(compile_cached("k = ").is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    const PIECES: &[&str] = &[
        "a",
        "b",
        "TAGS",
        "=",
        "<>",
        ">",
        ">=",
        "<",
        "<=",
        "(",
        ")",
        "AND",
        "OR",
        "NOT",
        "IS",
        "NULL",
        "BETWEEN",
        "IN",
        "TRUE",
        "FALSE",
        "'x'",
        "'",
        "1",
        "0",
        "2.5",
        ".5",
        "1e9",
        "-",
        "+",
        ",",
        "--",
        "/*",
        "*/",
        "\n",
        "9999999999999999999999",
        "0.0",
        "$",
        "é",
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(s in ".{0,200}") {
            if let Ok(sel) = Selector::parse(&s) {
                let _ = sel.matches(&|_| Some("1"));
                let _ = sel.matches(&|_| None);
            }
        }

        #[test]
        fn token_soup_never_panics(idx in proptest::collection::vec(0..PIECES.len(), 0..40),
                                   val in ".{0,8}") {
            let s: Vec<&str> = idx.iter().map(|&i| PIECES[i]).collect();
            let sql = s.join(" ");
            if let Ok(sel) = Selector::parse(&sql) {
                let _ = sel.matches(&|k| (k == "a").then_some(val.as_str()));
                let _ = sel.matches(&|_| Some("abc"));
            }
        }

        #[test]
        fn numeric_comparison_matches_rust(a in -1000i64..1000, lo in -1000i64..1000, span in 0i64..500) {
            let hi = lo + span;
            let sql = format!("a BETWEEN {lo} AND {hi}");
            // Negative literals are unary minus applied to a positive literal.
            let sel = Selector::parse(&sql).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let av = a.to_string();
            prop_assert_eq!(sel.matches(&|_| Some(av.as_str())), (lo..=hi).contains(&a));
        }
    }
}
