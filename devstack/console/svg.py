"""The refresh dependency graph as inline SVG: layers by longest dependency path."""

from __future__ import annotations

from markupsafe import Markup, escape

from devstack.console.data import STATUS_COLOURS, Graph

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 210, 44, 70, 22, 12


def layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Layer of each node: 0 for tables with no dependency, else 1 + deepest dependency."""
    deps: dict[str, set[str]] = {n: set() for n in nodes}
    for dep, node in edges:
        deps[node].add(dep)
    layer: dict[str, int] = {}

    def depth(node: str, seen: frozenset[str] = frozenset()) -> int:
        if node not in layer:
            parents = [d for d in deps[node] if d not in seen]
            layer[node] = 1 + max((depth(d, seen | {node}) for d in parents), default=-1)
        return layer[node]

    for node in nodes:
        depth(node)
    return layer


def render(graph: Graph) -> Markup:
    names = sorted(graph.nodes)
    if not names:
        return Markup("<p>(no refresh definitions)</p>")
    layer = layers(names, graph.edges)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(layer[name], []).append(name)
    pos: dict[str, tuple[int, int]] = {}
    for col, members in columns.items():
        for row, name in enumerate(members):
            pos[name] = (PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(columns) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max(len(m) for m in columns.values()) * (NODE_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="refresh dependency graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for dep, node in graph.edges:
        x1, y1 = pos[dep]
        x2, y2 = pos[node]
        parts.append(
            f'<line class="edge" data-from="{escape(dep)}" data-to="{escape(node)}" '
            f'x1="{x1 + NODE_W}" y1="{y1 + NODE_H // 2}" x2="{x2}" y2="{y2 + NODE_H // 2}" '
            'stroke="#555" stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    for name in names:
        x, y = pos[name]
        status = graph.nodes[name]
        colour = STATUS_COLOURS.get(status, "#8e24aa")
        text = "#000" if status == "never" else "#fff"
        parts.append(
            f'<g class="node" data-table="{escape(name)}" data-status="{escape(status)}">'
            f"<title>{escape(name)}: {escape(status)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="{colour}"/>'
            f'<text x="{x + 10}" y="{y + 18}" fill="{text}" font-size="13" '
            f'font-weight="bold">{escape(name)}</text>'
            f'<text x="{x + 10}" y="{y + 35}" fill="{text}" font-size="12">{escape(status)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value went through escape()
