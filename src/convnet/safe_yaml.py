"""YAML with a bound on what a small file may expand to.

yaml.safe_load builds shared objects for aliases, so a 358-byte "billion laughs" file loads
quickly, but anything that walks the result (checking values, printing one in an error,
writing it to JSON) visits every alias expansion: billions of nodes. The loader here counts,
after composing and before constructing, how many nodes the document has with every alias
expanded, and refuses one above MAX_NODES, a recursive alias, or nesting beyond MAX_DEPTH."""

from __future__ import annotations

import yaml

MAX_NODES = 100_000      # a config or search space file has tens of nodes
MAX_DEPTH = 100          # PyYAML composes recursively: deeper nesting would overflow the stack


class YAMLTooLarge(ValueError):
    """The document expands beyond a cap (the message names it)."""


def load(text: str):
    """Like yaml.safe_load(text), refusing a document above the caps with YAMLTooLarge."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise YAMLTooLarge(f"nested more than the stack allows (the cap is {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        # PyYAML calls this once per nesting level, so the depth is the open node count
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise YAMLTooLarge(f"nested more than {MAX_DEPTH} levels deep (the cap)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        if expanded_size(node, {}) > MAX_NODES:   # (the count stops soon after the cap)
            raise YAMLTooLarge(f"expands to more than {MAX_NODES:,} nodes with its aliases "
                               "expanded (the cap)")
        return node


_BUSY = -1   # marks a node whose size is being counted: meeting it again is a recursive alias


def expanded_size(node, sizes: dict) -> int:
    """Nodes under `node` with every alias expanded, counted once per distinct node (memo `sizes`),
    so a bomb is measured in steps proportional to its file, not to its expansion."""
    known = sizes.get(id(node))
    if known == _BUSY:
        raise YAMLTooLarge("an alias refers to the node that contains it (a recursive document)")
    if known is not None:
        return known
    sizes[id(node)] = _BUSY
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    total = 1
    for child in children:
        total += expanded_size(child, sizes)
        if total > MAX_NODES:
            break            # enough to refuse; stop before the count itself grows huge
    sizes[id(node)] = total
    return total
