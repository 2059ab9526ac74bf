//! Go template parsing: the pieces from the lexer become a tree of text, actions and the
//! `if`/`range`/`with` control structures, with pipelines of commands.

use super::TemplateError;
use super::lex::{Piece, Token};

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    /// `{{pipeline}}`: printed unless it declares or assigns variables.
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Variables declared (`$x :=`, `$i, $v :=` in range) or assigned (`$x =`).
    pub variables: Vec<String>,
    pub assign: bool,
    pub commands: Vec<Command>,
}

/// One command of a pipeline: a function applied to its arguments (plus the previous
/// command's result as the last argument), or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub words: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(Vec<String>),
    Variable(String, Vec<String>),
    Function(String),
    Str(String),
    Number(f64, bool),
    Bool(bool),
    Nil,
    /// `(pipeline).Chained.Fields`
    Sub(Box<Pipeline>, Vec<String>),
}

pub fn parse(pieces: Vec<Piece>) -> Result<Vec<Node>, TemplateError> {
    let mut parser = Parser { pieces, at: 0, range_depth: 0 };
    let (nodes, end) = parser.list()?;
    match end {
        ListEnd::Eof => Ok(nodes),
        ListEnd::EndAction => Err(TemplateError::parse("unexpected {{end}}")),
        ListEnd::Else(_) => Err(TemplateError::parse("unexpected {{else}}")),
    }
}

struct Parser {
    pieces: Vec<Piece>,
    at: usize,
    range_depth: usize,
}

/// What ended a list of nodes.
enum ListEnd {
    Eof,
    /// `{{end}}`
    EndAction,
    /// `{{else}}` (no tokens) or `{{else if …}}` / `{{else with …}}` (the tokens after else).
    Else(Vec<Token>),
}

fn keyword(tokens: &[Token]) -> Option<&str> {
    match tokens.first() {
        Some(Token::Ident(word)) => Some(word.as_str()),
        _ => None,
    }
}

impl Parser {
    fn list(&mut self) -> Result<(Vec<Node>, ListEnd), TemplateError> {
        let mut nodes = Vec::new();
        while self.at < self.pieces.len() {
            let piece = self.pieces[self.at].clone();
            self.at += 1;
            let tokens = match piece {
                Piece::Text(text) => {
                    nodes.push(Node::Text(text));
                    continue;
                }
                Piece::Action(tokens) => tokens,
            };
            match keyword(&tokens) {
                Some("end") => {
                    if tokens.len() > 1 {
                        return Err(TemplateError::parse("unexpected words after end"));
                    }
                    return Ok((nodes, ListEnd::EndAction));
                }
                Some("else") => return Ok((nodes, ListEnd::Else(tokens[1..].to_vec()))),
                Some("if") => nodes.push(self.conditional(&tokens[1..], "if")?),
                Some("with") => nodes.push(self.conditional(&tokens[1..], "with")?),
                Some("range") => nodes.push(self.range(&tokens[1..])?),
                Some(word @ ("break" | "continue")) => {
                    if self.range_depth == 0 {
                        return Err(TemplateError::parse(format!("{{{{{word}}}}} outside {{{{range}}}}")));
                    }
                    nodes.push(if word == "break" { Node::Break } else { Node::Continue });
                }
                Some(word @ ("define" | "template" | "block")) => {
                    return Err(TemplateError::parse(format!("{{{{{word}}}}} is not supported")));
                }
                _ => nodes.push(Node::Action(pipeline(&tokens, false)?)),
            }
        }
        Ok((nodes, ListEnd::Eof))
    }

    /// `if` and `with`, each with any number of `else if` / `else with` branches.
    fn conditional(&mut self, tokens: &[Token], word: &str) -> Result<Node, TemplateError> {
        let mut branches = vec![(pipeline(tokens, false)?, Vec::new())];
        loop {
            let (body, end) = self.list()?;
            branches.last_mut().expect("one branch at least").1 = body;
            match end {
                ListEnd::Eof => return Err(TemplateError::parse(format!("unexpected EOF in {word}"))),
                ListEnd::EndAction => break,
                ListEnd::Else(rest) if rest.is_empty() => {
                    let (otherwise, end) = self.list()?;
                    if !matches!(end, ListEnd::EndAction) {
                        return Err(TemplateError::parse(format!("expected end after else in {word}")));
                    }
                    return Ok(conditional_node(word, branches, otherwise));
                }
                ListEnd::Else(rest) if keyword(&rest) == Some(word) => {
                    branches.push((pipeline(&rest[1..], false)?, Vec::new()));
                }
                ListEnd::Else(_) => return Err(TemplateError::parse(format!("unexpected words after else in {word}"))),
            }
        }
        Ok(conditional_node(word, branches, Vec::new()))
    }

    fn range(&mut self, tokens: &[Token]) -> Result<Node, TemplateError> {
        let pipeline = pipeline(tokens, true)?;
        self.range_depth += 1;
        let (body, end) = self.list()?;
        let otherwise = match end {
            ListEnd::EndAction => Vec::new(),
            ListEnd::Else(rest) if rest.is_empty() => {
                self.range_depth -= 1;
                let (otherwise, end) = self.list()?;
                self.range_depth += 1;
                if !matches!(end, ListEnd::EndAction) {
                    return Err(TemplateError::parse("expected end after else in range"));
                }
                otherwise
            }
            ListEnd::Else(_) => return Err(TemplateError::parse("unexpected words after else in range")),
            ListEnd::Eof => return Err(TemplateError::parse("unexpected EOF in range")),
        };
        self.range_depth -= 1;
        Ok(Node::Range { pipeline, body, otherwise })
    }
}

fn conditional_node(word: &str, branches: Vec<(Pipeline, Vec<Node>)>, otherwise: Vec<Node>) -> Node {
    if word == "if" { Node::If { branches, otherwise } } else { Node::With { branches, otherwise } }
}

/// A pipeline, optionally starting with a declaration. `range` may declare two variables.
fn pipeline(tokens: &[Token], in_range: bool) -> Result<Pipeline, TemplateError> {
    let mut variables = Vec::new();
    let mut assign = false;
    let mut rest = tokens;
    let declared = tokens.iter().position(|t| matches!(t, Token::Declare | Token::Assign));
    if let Some(at) = declared {
        let names = &tokens[..at];
        let plain_variable = |t: &Token| match t {
            Token::Variable(name, path) if path.is_empty() && name != "$" => Some(name.clone()),
            _ => None,
        };
        let mut ok = true;
        for (i, token) in names.iter().enumerate() {
            if i % 2 == 1 {
                ok &= matches!(token, Token::Comma);
            } else if let Some(name) = plain_variable(token) {
                variables.push(name);
            } else {
                ok = false;
            }
        }
        let max = if in_range { 2 } else { 1 };
        if ok && !variables.is_empty() && variables.len() <= max && names.len() % 2 == 1 {
            assign = matches!(tokens[at], Token::Assign);
            rest = &tokens[at + 1..];
        } else {
            return Err(TemplateError::parse("bad variable declaration"));
        }
    }
    let mut commands = Vec::new();
    let mut words = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        match &rest[i] {
            Token::Pipe => {
                if words.is_empty() {
                    return Err(TemplateError::parse("missing command before |"));
                }
                commands.push(Command { words: std::mem::take(&mut words) });
                i += 1;
            }
            Token::LeftParen => {
                let close = matching_paren(rest, i)?;
                let inner = pipeline(&rest[i + 1..close], false)?;
                if !inner.variables.is_empty() {
                    return Err(TemplateError::parse("declaration inside parentheses"));
                }
                let chain = match rest.get(close + 1) {
                    Some(Token::Chain(names)) => {
                        i = close + 2;
                        names.clone()
                    }
                    _ => {
                        i = close + 1;
                        Vec::new()
                    }
                };
                words.push(Operand::Sub(Box::new(inner), chain));
            }
            Token::RightParen => return Err(TemplateError::parse("unexpected right paren")),
            Token::Declare | Token::Assign | Token::Comma | Token::Chain(_) => {
                return Err(TemplateError::parse("unexpected token in operand"));
            }
            token => {
                words.push(operand(token)?);
                i += 1;
            }
        }
    }
    if words.is_empty() {
        return Err(TemplateError::parse(if commands.is_empty() {
            "missing value for command"
        } else {
            "missing command after |"
        }));
    }
    commands.push(Command { words });
    for later in &commands[1..] {
        if !matches!(later.words[0], Operand::Function(_)) {
            return Err(TemplateError::parse("non executable command in pipeline stage"));
        }
    }
    Ok(Pipeline { variables, assign, commands })
}

fn operand(token: &Token) -> Result<Operand, TemplateError> {
    Ok(match token {
        Token::Field(path) => Operand::Field(path.clone()),
        Token::Variable(name, path) => Operand::Variable(name.clone(), path.clone()),
        Token::Ident(word) => match word.as_str() {
            "true" => Operand::Bool(true),
            "false" => Operand::Bool(false),
            "nil" => Operand::Nil,
            _ if super::funcs::is_function(word) => Operand::Function(word.clone()),
            _ => return Err(TemplateError::parse(format!("function {word:?} not defined"))),
        },
        Token::Str(s) => Operand::Str(s.clone()),
        Token::Number(n, integer) => Operand::Number(*n, *integer),
        Token::Char(c) => Operand::Number(f64::from(*c as u32), true),
        _ => unreachable!("structural tokens are handled by the caller"),
    })
}

fn matching_paren(tokens: &[Token], open: usize) -> Result<usize, TemplateError> {
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::LeftParen => depth += 1,
            Token::RightParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(TemplateError::parse("unclosed left paren"))
}

#[cfg(test)]
mod tests {
    use super::super::lex::pieces;
    use super::*;

    fn tree(source: &str) -> Result<Vec<Node>, TemplateError> {
        parse(pieces(source)?)
    }

    #[test]
    fn control_structures_nest() {
        let nodes = tree("{{range $i, $v := .A}}{{if $v}}x{{else if .B}}y{{else}}z{{end}}{{end}}").unwrap();
        let Node::Range { pipeline, body, .. } = &nodes[0] else { panic!("{nodes:?}") };
        assert_eq!(pipeline.variables, ["$i", "$v"]);
        let Node::If { branches, otherwise } = &body[0] else { panic!("{body:?}") };
        assert_eq!(branches.len(), 2);
        assert_eq!(otherwise, &[Node::Text("z".into())]);
    }

    #[test]
    fn malformed_structures_are_errors() {
        for bad in [
            "{{if .A}}",
            "{{end}}",
            "{{else}}",
            "{{range .A}}{{else}}{{else}}{{end}}",
            "{{break}}",
            "{{.A | .B}}",
            "{{(.A}}",
            "{{.A)}}",
            "{{$a, $b := .X}}",
            "{{template \"x\"}}",
            "{{}}",
            "{{.A |}}",
        ] {
            assert!(tree(bad).is_err(), "{bad}");
        }
    }
}
