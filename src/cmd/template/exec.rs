//! Executing a parsed template against a JSON value, with Go's rules for dot, variables,
//! truth, `range` over lists and maps (in key order) and printing.

use serde_json::Value;

use super::TemplateError;
use super::funcs::{Functions, call, print_value};
use super::parse::{Node, Operand, Pipeline};

/// A template value: JSON, or nothing at all (a field that is not there), which Go prints as
/// `<no value>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Missing,
    Json(Value),
}

impl Val {
    pub fn truthy(&self) -> bool {
        match self {
            Val::Missing | Val::Json(Value::Null) => false,
            Val::Json(Value::Bool(b)) => *b,
            Val::Json(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
            Val::Json(Value::String(s)) => !s.is_empty(),
            Val::Json(Value::Array(a)) => !a.is_empty(),
            Val::Json(Value::Object(o)) => !o.is_empty(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Missing | Val::Json(Value::Null) => "nil",
            Val::Json(Value::Bool(_)) => "bool",
            Val::Json(Value::Number(n)) if n.is_f64() => "float64",
            Val::Json(Value::Number(_)) => "int",
            Val::Json(Value::String(_)) => "string",
            Val::Json(Value::Array(_)) => "[]interface {}",
            Val::Json(Value::Object(_)) => "map[string]interface {}",
        }
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub struct Exec<'a> {
    pub functions: Functions,
    /// Header mode: a field is its column name from the root value (Docker's header
    /// context), or its own name in upper case when that has none.
    pub header: bool,
    root: &'a Value,
    variables: Vec<(String, Val)>,
    out: String,
}

impl<'a> Exec<'a> {
    pub fn new(root: &'a Value, functions: Functions, header: bool) -> Self {
        Exec { functions, header, root, variables: Vec::new(), out: String::new() }
    }

    pub fn run(mut self, nodes: &[Node]) -> Result<String, TemplateError> {
        let dot = Val::Json(self.root.clone());
        self.nodes(nodes, &dot)?;
        Ok(self.out)
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Val) -> Result<Flow, TemplateError> {
        for node in nodes {
            match self.node(node, dot)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn scoped(&mut self, nodes: &[Node], dot: &Val) -> Result<Flow, TemplateError> {
        let depth = self.variables.len();
        let flow = self.nodes(nodes, dot);
        self.variables.truncate(depth);
        flow
    }

    fn node(&mut self, node: &Node, dot: &Val) -> Result<Flow, TemplateError> {
        match node {
            Node::Text(text) => self.out.push_str(text),
            Node::Action(pipeline) => {
                let value = self.pipeline(pipeline, dot)?;
                if pipeline.variables.is_empty() {
                    self.out.push_str(&print_value(&value));
                }
            }
            Node::If { branches, otherwise } | Node::With { branches, otherwise } => {
                let with = matches!(node, Node::With { .. });
                let depth = self.variables.len();
                for (condition, body) in branches {
                    let value = self.pipeline(condition, dot)?;
                    if value.truthy() {
                        let inner = if with { value } else { dot.clone() };
                        let flow = self.nodes(body, &inner);
                        self.variables.truncate(depth);
                        return flow;
                    }
                }
                let flow = self.nodes(otherwise, dot);
                self.variables.truncate(depth);
                return flow;
            }
            Node::Range { pipeline, body, otherwise } => return self.range(pipeline, body, otherwise, dot),
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        pipeline: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Val,
    ) -> Result<Flow, TemplateError> {
        let commands = Pipeline { variables: Vec::new(), assign: false, commands: pipeline.commands.clone() };
        let items: Vec<(Value, Value)> = match self.pipeline(&commands, dot)? {
            Val::Missing | Val::Json(Value::Null) => Vec::new(),
            Val::Json(Value::Array(items)) => items.into_iter().enumerate().map(|(i, v)| (Value::from(i), v)).collect(),
            Val::Json(Value::Object(map)) => map.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
            Val::Json(Value::Number(n)) if n.as_u64().is_some() => {
                (0..n.as_u64().unwrap_or(0)).map(|i| (Value::from(i), Value::from(i))).collect()
            }
            other => return Err(TemplateError::exec(format!("range can't iterate over {}", print_value(&other)))),
        };
        if items.is_empty() {
            return self.scoped(otherwise, dot);
        }
        let depth = self.variables.len();
        for (key, item) in items {
            self.variables.truncate(depth);
            match pipeline.variables.as_slice() {
                [one] => self.variables.push((one.clone(), Val::Json(item.clone()))),
                [first, second] => {
                    self.variables.push((first.clone(), Val::Json(key)));
                    self.variables.push((second.clone(), Val::Json(item.clone())));
                }
                _ => {}
            }
            match self.nodes(body, &Val::Json(item))? {
                Flow::Break => break,
                Flow::Normal | Flow::Continue => {}
            }
        }
        self.variables.truncate(depth);
        Ok(Flow::Normal)
    }

    fn pipeline(&mut self, pipeline: &Pipeline, dot: &Val) -> Result<Val, TemplateError> {
        let mut value: Option<Val> = None;
        for command in &pipeline.commands {
            let (head, rest) = command.words.split_first().expect("the parser makes no empty command");
            value = Some(match head {
                Operand::Function(name) => {
                    let mut args = Vec::with_capacity(rest.len() + 1);
                    for word in rest {
                        args.push(self.operand(word, dot)?);
                    }
                    args.extend(value.take());
                    call(self.functions, name, args)?
                }
                _ if !rest.is_empty() => {
                    return Err(TemplateError::exec(format!("can't give argument to non-function {head:?}")));
                }
                _ if value.is_some() => {
                    return Err(TemplateError::exec("non executable command in pipeline stage"));
                }
                operand => self.operand(operand, dot)?,
            });
        }
        let value = value.unwrap_or(Val::Missing);
        match pipeline.variables.as_slice() {
            [name] if pipeline.assign => {
                let slot = self.variables.iter_mut().rev().find(|(n, _)| n == name);
                match slot {
                    Some((_, v)) => *v = value.clone(),
                    None => return Err(TemplateError::exec(format!("undefined variable: {name}"))),
                }
            }
            [name] => self.variables.push((name.clone(), value.clone())),
            _ => {}
        }
        Ok(value)
    }

    fn operand(&mut self, operand: &Operand, dot: &Val) -> Result<Val, TemplateError> {
        match operand {
            Operand::Field(path) => self.fields(dot, path),
            Operand::Variable(name, path) => {
                let base = if name == "$" {
                    Val::Json(self.root.clone())
                } else {
                    match self.variables.iter().rev().find(|(n, _)| n == name) {
                        Some((_, v)) => v.clone(),
                        None => return Err(TemplateError::exec(format!("undefined variable: {name}"))),
                    }
                };
                self.fields(&base, path)
            }
            Operand::Function(name) => call(self.functions, name, Vec::new()),
            Operand::Str(s) => Ok(Val::Json(Value::String(s.clone()))),
            Operand::Number(n, true) => Ok(Val::Json(Value::from(*n as i64))),
            Operand::Number(n, false) => {
                Ok(Val::Json(serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)))
            }
            Operand::Bool(b) => Ok(Val::Json(Value::Bool(*b))),
            Operand::Nil => Ok(Val::Json(Value::Null)),
            Operand::Sub(pipeline, path) => {
                let depth = self.variables.len();
                let value = self.pipeline(pipeline, dot);
                self.variables.truncate(depth);
                self.fields(&value?, path)
            }
        }
    }

    fn fields(&self, value: &Val, path: &[String]) -> Result<Val, TemplateError> {
        if let (true, Some(last)) = (self.header, path.last()) {
            let name = self.root.get(last).and_then(Value::as_str).map_or_else(|| last.to_uppercase(), str::to_owned);
            return Ok(Val::Json(Value::String(name)));
        }
        let mut current = match value {
            Val::Missing => None,
            Val::Json(v) => Some(v),
        };
        for name in path {
            current = match current {
                Some(Value::Object(map)) => map.get(name),
                None | Some(Value::Null) => None,
                Some(other) => {
                    let kind = Val::Json(other.clone()).type_name();
                    return Err(TemplateError::exec(format!("can't evaluate field {name} in type {kind}")));
                }
            };
        }
        Ok(current.map_or(Val::Missing, |v| Val::Json(v.clone())))
    }
}
