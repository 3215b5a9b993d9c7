//! Facts from one version's `core-en_US.xml`: action names and parameters, event names, classes and
//! fields, and the list events named in `<responses>`. Only names, flags, defaults and enumerated
//! values are read; synopsis, description and `para` text is never looked at, so Asterisk's prose
//! (GPL-2.0) cannot leak into the generated catalog.

use std::collections::BTreeMap;

use roxmltree::{Document, Node, ParsingOptions};

use crate::GenError;

/// The XInclude namespace used by `<xi:include xpointer="...">`.
const XI: &str = "http://www.w3.org/2001/XInclude";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DocParam {
    pub name: String,
    pub required: bool,
    pub multiple: bool,
    pub default: Option<String>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DocAction {
    pub name: String,
    pub params: Vec<DocParam>,
    /// Event names under `<responses><list-elements>`.
    pub list_items: Vec<String>,
    /// Event names directly under `<responses>` (the completion event).
    pub list_complete: Vec<String>,
}

/// A field of an event as the XML states it, before snapshot expansion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldSpec {
    Param {
        name: String,
        values: Vec<String>,
    },
    /// `<channel_snapshot prefix="..."/>`: the channel snapshot fields, each name prefixed.
    Channel(String),
    /// `<bridge_snapshot prefix="..."/>`: the bridge snapshot fields, each name prefixed.
    Bridge(String),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DocEvent {
    pub name: String,
    /// Lower-case class names from `managerEventInstance class="EVENT_FLAG_*"`.
    pub classes: Vec<String>,
    pub fields: Vec<FieldSpec>,
}

/// Everything one version documents, keyed by lower-case name (Asterisk matches names
/// case-insensitively). The same name may be defined by several modules (the three voicemail
/// back ends, res_jabber and res_xmpp, VarSet in three places): their facts are merged.
#[derive(Debug, Default)]
pub(crate) struct DocSet {
    pub actions: BTreeMap<String, DocAction>,
    pub events: BTreeMap<String, DocEvent>,
}

pub(crate) fn parse(text: &str, origin: &str) -> Result<DocSet, GenError> {
    let options = ParsingOptions {
        // The file starts with `<!DOCTYPE docs SYSTEM "appdocsxml.dtd">`; the DTD declares no
        // entities the parameters use, so it is only skipped.
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|source| GenError::Xml {
        file: origin.to_owned(),
        source,
    })?;
    let resolver = Resolver { doc: &doc, origin };
    let mut set = DocSet::default();
    for node in doc.root_element().descendants() {
        if node.is_element() && node.tag_name().name() == "manager" {
            resolver.add_action(node, &mut set)?;
        } else if node.is_element() && node.tag_name().name() == "managerEvent" {
            resolver.add_event(node, &mut set)?;
        }
    }
    Ok(set)
}

struct Resolver<'d, 'i> {
    doc: &'d Document<'i>,
    origin: &'d str,
}

impl<'d, 'i> Resolver<'d, 'i> {
    fn add_action(&self, node: Node<'d, 'i>, set: &mut DocSet) -> Result<(), GenError> {
        let name = attr(node, "name", self.origin)?;
        let entry = set
            .actions
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| DocAction {
                name: name.to_owned(),
                ..DocAction::default()
            });
        for syntax in children(node, "syntax") {
            for param in self.params_of(syntax)? {
                merge_param(&mut entry.params, param);
            }
        }
        for responses in children(node, "responses") {
            for child in responses.children().filter(Node::is_element) {
                match child.tag_name().name() {
                    "list-elements" => {
                        for item in child.children().filter(Node::is_element) {
                            for event in self.event_names(item)? {
                                push_unique(&mut entry.list_items, event);
                            }
                        }
                    }
                    _ => {
                        for event in self.event_names(child)? {
                            push_unique(&mut entry.list_complete, event);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn add_event(&self, node: Node<'d, 'i>, set: &mut DocSet) -> Result<(), GenError> {
        let name = attr(node, "name", self.origin)?;
        let entry = set
            .events
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| DocEvent {
                name: name.to_owned(),
                ..DocEvent::default()
            });
        for instance in children(node, "managerEventInstance") {
            if let Some(class) = instance.attribute("class") {
                let class = class
                    .strip_prefix("EVENT_FLAG_")
                    .unwrap_or(class)
                    .to_ascii_lowercase();
                push_unique(&mut entry.classes, class);
            }
            for syntax in children(instance, "syntax") {
                for field in self.fields_of(syntax)? {
                    if !entry.fields.contains(&field) {
                        entry.fields.push(field);
                    }
                }
            }
        }
        Ok(())
    }

    /// Names of the events a `<responses>` child stands for: an inline `<managerEvent>` or an
    /// `<xi:include>` of one.
    fn event_names(&self, node: Node<'d, 'i>) -> Result<Vec<String>, GenError> {
        let mut names = Vec::new();
        for target in self.expand(node)? {
            if target.tag_name().name() == "managerEvent" {
                push_unique(&mut names, attr(target, "name", self.origin)?.to_owned());
            }
        }
        Ok(names)
    }

    fn params_of(&self, syntax: Node<'d, 'i>) -> Result<Vec<DocParam>, GenError> {
        let mut params = Vec::new();
        for child in syntax.children().filter(Node::is_element) {
            for target in self.expand(child)? {
                if target.tag_name().name() == "parameter" {
                    params.push(self.param(target)?);
                }
            }
        }
        Ok(params)
    }

    fn fields_of(&self, syntax: Node<'d, 'i>) -> Result<Vec<FieldSpec>, GenError> {
        let mut fields = Vec::new();
        for child in syntax.children().filter(Node::is_element) {
            for target in self.expand(child)? {
                let prefix = || target.attribute("prefix").unwrap_or("").trim().to_owned();
                match target.tag_name().name() {
                    "parameter" => {
                        let param = self.param(target)?;
                        fields.push(FieldSpec::Param {
                            name: param.name,
                            values: param.values,
                        });
                    }
                    "channel_snapshot" => fields.push(FieldSpec::Channel(prefix())),
                    "bridge_snapshot" => fields.push(FieldSpec::Bridge(prefix())),
                    _ => {}
                }
            }
        }
        Ok(fields)
    }

    fn param(&self, node: Node<'d, 'i>) -> Result<DocParam, GenError> {
        let flag = |name| matches!(node.attribute(name), Some("true" | "yes"));
        let mut values = Vec::new();
        self.enum_values(node, &mut values)?;
        Ok(DocParam {
            name: attr(node, "name", self.origin)?.trim().to_owned(),
            required: flag("required"),
            multiple: flag("multiple"),
            default: node.attribute("default").map(str::to_owned),
            values,
        })
    }

    /// `<enum name>` values of the parameter's own `<enumlist>` (written inline or included).
    /// Enumerations nested in prose (`<para>`) or inside an `<enum>` describe something else.
    fn enum_values(&self, param: Node<'d, 'i>, values: &mut Vec<String>) -> Result<(), GenError> {
        for child in param.children().filter(Node::is_element) {
            for target in self.expand(child)? {
                if target.tag_name().name() == "enumlist" {
                    for item in children(target, "enum") {
                        push_unique(values, attr(item, "name", self.origin)?.to_owned());
                    }
                }
            }
        }
        Ok(())
    }

    /// The node itself, or what an `<xi:include>` points at.
    fn expand(&self, node: Node<'d, 'i>) -> Result<Vec<Node<'d, 'i>>, GenError> {
        if node.tag_name().namespace() == Some(XI) && node.tag_name().name() == "include" {
            let pointer = attr(node, "xpointer", self.origin)?;
            self.resolve(pointer)
        } else {
            Ok(vec![node])
        }
    }

    /// Evaluates the XPointer subset the documentation uses: absolute child paths with
    /// `[@attr='v']`, `[N]` and `[contains(@attr, 'v')]` predicates. A trailing `node()` or
    /// `text()` step selects prose, which is never wanted here, so it selects nothing.
    fn resolve(&self, pointer: &str) -> Result<Vec<Node<'d, 'i>>, GenError> {
        let bad = || GenError::XPointer {
            file: self.origin.to_owned(),
            pointer: pointer.to_owned(),
        };
        let path = pointer
            .trim()
            .strip_prefix("xpointer(")
            .and_then(|p| p.strip_suffix(')'))
            .ok_or_else(bad)?;
        let mut current = vec![self.doc.root()];
        for step in split_steps(path.trim_start_matches('/')) {
            let (name, predicates) = parse_step(step).ok_or_else(bad)?;
            if name == "node()" || name == "text()" {
                return Ok(Vec::new());
            }
            let mut next = Vec::new();
            for parent in &current {
                let mut matched: Vec<Node> = parent
                    .children()
                    .filter(|c| c.is_element() && c.tag_name().name() == name)
                    .collect();
                for predicate in &predicates {
                    matched = apply(predicate, matched).ok_or_else(bad)?;
                }
                next.extend(matched);
            }
            current = next;
        }
        Ok(current)
    }
}

fn apply<'d, 'i>(predicate: &str, nodes: Vec<Node<'d, 'i>>) -> Option<Vec<Node<'d, 'i>>> {
    if let Ok(index) = predicate.parse::<usize>() {
        return Some(
            nodes
                .into_iter()
                .skip(index.checked_sub(1)?)
                .take(1)
                .collect(),
        );
    }
    if let Some(inner) = predicate
        .strip_prefix("contains(")
        .and_then(|p| p.strip_suffix(')'))
    {
        let (attribute, value) = inner.split_once(',')?;
        let attribute = attribute.trim().strip_prefix('@')?;
        let value = unquote(value.trim())?;
        return Some(
            nodes
                .into_iter()
                .filter(|n| n.attribute(attribute).is_some_and(|a| a.contains(value)))
                .collect(),
        );
    }
    let (attribute, value) = predicate.split_once('=')?;
    let attribute = attribute.trim().strip_prefix('@')?;
    let value = unquote(value.trim())?;
    Some(
        nodes
            .into_iter()
            .filter(|n| n.attribute(attribute) == Some(value))
            .collect(),
    )
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

/// Splits a path at `/` outside predicates.
fn split_steps(path: &str) -> Vec<&str> {
    let mut steps = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in path.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                steps.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    steps.push(&path[start..]);
    steps
}

/// `name[p1][p2]` into the name and the predicate texts.
fn parse_step(step: &str) -> Option<(&str, Vec<&str>)> {
    let name_end = step.find('[').unwrap_or(step.len());
    let name = &step[..name_end];
    let mut predicates = Vec::new();
    let mut rest = &step[name_end..];
    while let Some(body) = rest.strip_prefix('[') {
        let mut depth = 1usize;
        let end = body.char_indices().find_map(|(i, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        })?;
        predicates.push(&body[..end]);
        rest = &body[end + 1..];
    }
    (rest.is_empty() && !name.is_empty()).then_some((name, predicates))
}

/// Merges a parameter met again (another module's copy of the same action): the first
/// definition's flags stay, enumerated values are united.
fn merge_param(params: &mut Vec<DocParam>, param: DocParam) {
    match params
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case(&param.name))
    {
        Some(existing) => {
            for value in param.values {
                push_unique(&mut existing.values, value);
            }
        }
        None => params.push(param),
    }
}

fn children<'d, 'i>(node: Node<'d, 'i>, name: &'static str) -> impl Iterator<Item = Node<'d, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn attr<'d, 'i>(node: Node<'d, 'i>, name: &str, origin: &str) -> Result<&'d str, GenError> {
    node.attribute(name)
        .ok_or_else(|| GenError::MissingAttribute {
            file: origin.to_owned(),
            element: node.tag_name().name().to_owned(),
            attribute: name.to_owned(),
            line: node.document().text_pos_at(node.range().start).row,
        })
}

pub(crate) fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.iter().any(|v| v == &value) {
        list.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0"?>
<docs xmlns:xi="http://www.w3.org/2001/XInclude">
  <manager name="Login"><syntax><parameter name="ActionID"/></syntax></manager>
  <manager name="Thing">
    <syntax>
      <xi:include xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
      <parameter name="Mode" required="true" default="a">
        <enumlist><enum name="a"/><enum name="b"><enumlist><enum name="nested"/></enumlist></enum></enumlist>
      </parameter>
      <parameter name="Var" multiple="yes"/>
    </syntax>
    <responses>
      <list-elements><xi:include xpointer="xpointer(/docs/managerEvent[@name='Item'])" /></list-elements>
      <managerEvent name="ThingComplete"><managerEventInstance class="EVENT_FLAG_COMMAND"/></managerEvent>
    </responses>
  </manager>
  <managerEvent name="Item">
    <managerEventInstance class="EVENT_FLAG_CALL">
      <syntax><channel_snapshot/><bridge_snapshot prefix="To"/><parameter name="X"/></syntax>
    </managerEventInstance>
  </managerEvent>
  <managerEvent name="Other">
    <managerEventInstance class="EVENT_FLAG_SYSTEM">
      <syntax><xi:include xpointer="xpointer(/docs/managerEvent[@name='Item']/managerEventInstance/syntax/parameter)" /></syntax>
    </managerEventInstance>
  </managerEvent>
</docs>"#;

    #[test]
    fn includes_flags_enums_and_responses_are_read() {
        let set = parse(SAMPLE, "sample").unwrap();
        let thing = &set.actions["thing"];
        let names: Vec<&str> = thing.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ActionID", "Mode", "Var"]);
        assert!(thing.params[1].required && !thing.params[1].multiple);
        assert_eq!(thing.params[1].default.as_deref(), Some("a"));
        assert_eq!(thing.params[1].values, ["a", "b"]);
        assert!(thing.params[2].multiple);
        assert_eq!(thing.list_items, ["Item"]);
        assert_eq!(thing.list_complete, ["ThingComplete"]);
        assert_eq!(set.events["thingcomplete"].classes, ["command"]);
        let item = &set.events["item"];
        assert_eq!(item.classes, ["call"]);
        assert_eq!(
            item.fields,
            [
                FieldSpec::Channel(String::new()),
                FieldSpec::Bridge("To".into()),
                FieldSpec::Param {
                    name: "X".into(),
                    values: vec![]
                }
            ]
        );
        assert_eq!(
            set.events["other"].fields,
            [FieldSpec::Param {
                name: "X".into(),
                values: vec![]
            }]
        );
    }

    #[test]
    fn positional_and_prose_pointers() {
        let text = r#"<docs xmlns:xi="http://www.w3.org/2001/XInclude">
            <manager name="A"><syntax><parameter name="One"/><parameter name="Two"/></syntax></manager>
            <manager name="B"><syntax>
              <xi:include xpointer="xpointer(/docs/manager[@name='A']/syntax/parameter[2])" />
              <parameter name="Three">
                <xi:include xpointer="xpointer(/docs/manager[@name='A']/syntax/parameter[1]/node())" />
              </parameter>
            </syntax></manager></docs>"#;
        let set = parse(text, "t").unwrap();
        let names: Vec<&str> = set.actions["b"]
            .params
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["Two", "Three"]);
    }

    #[test]
    fn unsupported_pointer_is_an_error() {
        let text = r#"<docs xmlns:xi="http://www.w3.org/2001/XInclude"><manager name="A"><syntax>
            <xi:include xpointer="/docs/manager" /></syntax></manager></docs>"#;
        assert!(matches!(parse(text, "t"), Err(GenError::XPointer { .. })));
    }
}
