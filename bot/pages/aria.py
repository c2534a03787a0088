"""A screen read in one go: Playwright's ARIA snapshot, parsed into a tree of roles and names.

Reading a whole form or table through one snapshot costs one browser round trip instead of one
per field or cell, and it sees exactly what assistive technologies see: roles, accessible names,
values, checked/selected states, link targets. Nothing structural (no CSS, no ids) is assumed.

A snapshot line looks like ``- textbox "Date de l'évaluation": 03/03/2025``,
``- radio "Oui" [checked]``, ``- cell "DUPONT"`` or ``- /url: /usagers/1`` (a link's target);
children are indented below their parent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["CONTROL_ROLES", "AriaNode", "parse_snapshot"]

#: Roles of the form controls a label names (what ``get_by_label`` finds).
CONTROL_ROLES = frozenset(
    {"textbox", "spinbutton", "combobox", "listbox", "checkbox", "searchbox", "slider", "radio"}
)

_LINE = re.compile(
    r'^(?P<indent> *)- (?P<role>[A-Za-z/]+)(?: (?P<name>"(?:[^"\\]|\\.)*"))?'
    r"(?P<attrs>(?: \[[^\]]*\])*)(?P<colon>:(?: (?P<value>.*))?)?$"
)
_ATTR = re.compile(r"\[([^\]=]+)(?:=([^\]]*))?\]")


def _scalar(text: str) -> str:
    """A YAML scalar as written in a snapshot (plain, "double" or 'single' quoted)."""
    text = text.strip()
    if text.startswith('"'):
        try:
            return str(json.loads(text))
        except ValueError:
            return text.strip('"')
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    return text


@dataclass
class AriaNode:
    """One node of the accessibility tree: role, accessible name, states, value, children."""

    role: str
    name: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    value: str | None = None  # a control's value, or the text of a text node
    url: str | None = None  # a link's target
    children: list[AriaNode] = field(default_factory=list)
    _by_role: dict[str, list[AriaNode]] | None = field(default=None, repr=False, compare=False)

    def walk(self) -> Iterator[AriaNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find_all(self, role: str | frozenset[str], name: str | None = None) -> list[AriaNode]:
        """Every node of these roles (and this name) under this one, in document order."""
        if self._by_role is None:
            # A screen is read once, then queried once per field: index it by role.
            self._by_role = {}
            for node in self.walk():
                self._by_role.setdefault(node.role, []).append(node)
        if isinstance(role, str):
            found = self._by_role.get(role, [])
        else:
            found = [n for n in self.walk() if n.role in role]
        return [n for n in found if name is None or n.name == name]

    def find(self, role: str | frozenset[str], name: str | None = None) -> AriaNode | None:
        found = self.find_all(role, name)
        return found[0] if found else None

    def has(self, role: str | frozenset[str], name: str) -> bool:
        return self.find(role, name) is not None

    def control(self, label: str) -> AriaNode | None:
        """The form control with this accessible name (its label)."""
        found = [n for role in CONTROL_ROLES for n in self.find_all(role, label)]
        if len(found) > 1:
            order = {id(n): i for i, n in enumerate(self.walk())}
            found.sort(key=lambda n: order[id(n)])
        return found[0] if found else None

    @property
    def checked(self) -> bool:
        return self.attrs.get("checked") == "true"

    @property
    def selected(self) -> bool:
        return self.attrs.get("selected") == "true"

    def chosen(self) -> str | None:
        """The name of the checked radio / selected option inside this node."""
        for node in self.walk():
            if node is not self and (
                (node.role == "radio" and node.checked) or (node.role == "option" and node.selected)
            ):
                return node.name
        return None

    def text(self) -> str:
        """Every text of the node and its descendants, in order, spaces folded."""
        own = self.value or ("" if self.children else self.name)
        parts = [own, *(child.text() for child in self.children)]
        return " ".join(" ".join(p for p in parts if p).split())


def parse_snapshot(snapshot: str) -> AriaNode:
    """The tree of an ARIA snapshot, under a root node of role ``document``."""
    root = AriaNode("document")
    stack: list[tuple[int, AriaNode]] = [(-1, root)]
    for line in snapshot.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        value = _scalar(m["value"]) if m["value"] is not None else None
        if m["role"] == "/url":
            parent.url = value
            continue
        # An attribute without a value ([checked]) means true.
        attrs = {k: (v or "true") for k, v in _ATTR.findall(m["attrs"])}
        node = AriaNode(
            role=m["role"],
            name=_scalar(m["name"]) if m["name"] else "",
            attrs=attrs,
            value=value if value != "" else None,
        )
        parent.children.append(node)
        stack.append((indent, node))
    return root
