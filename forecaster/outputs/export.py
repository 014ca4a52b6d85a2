"""The network with its pooled prior-mean tables as BIF or XMLBIF (pyAgrum, pgmpy, GeNIe).

Node names are the ids; indicator and mechanism states are `occurred` then `not_occurred`.
Mechanisms are ordinary binary nodes (parents: their hypotheses; children: their indicators),
listed after the hypotheses; an indicator on a mechanism has it as its last parent. Table rows
follow the parent order given, the first parent varying slowest, as both formats expect."""

from __future__ import annotations

from xml.sax.saxutils import escape

import numpy as np

from forecaster.model.network import Network
from forecaster.model.priors import Priors


def _tables(priors: Priors, net: Network) -> list[tuple[str, tuple[str, ...], tuple[str, ...], np.ndarray]]:
    """(node, states, parents, table (configs, states)) for every node, hypotheses first."""
    out = []
    for h, hid in enumerate(net.hypothesis_ids):
        a = net.alpha[h]
        node = priors.hypotheses[h]
        out.append((hid, net.states[h], node.parents, a / a.sum(axis=1, keepdims=True)))
    q = net.q_mean
    for k, mech in enumerate(priors.mechanisms):
        rows = len(priors.configs(mech.id))
        mk = q[net.m_offsets[k]: net.m_offsets[k] + rows]
        out.append((mech.id, mech.states, mech.parents, np.column_stack([mk, 1.0 - mk])))
    for j, ind in enumerate(priors.indicators):
        rows = len(priors.configs(ind.id))
        qj = q[net.q_offsets[j]: net.q_offsets[j] + rows]
        out.append((ind.id, ind.states, ind.table_parents, np.column_stack([qj, 1.0 - qj])))
    return out


def _num(x: float) -> str:
    return f"{x:.12g}"


def to_bif(priors: Priors, net: Network) -> str:
    lines = [f"network {priors.name.replace('-', '_')} {{", "}", ""]
    tables = _tables(priors, net)
    for node, states, _parents, _t in tables:
        lines.append(f"variable {node} {{")
        lines.append(f"  type discrete [ {len(states)} ] {{ {', '.join(states)} }};")
        lines.append("}")
    lines.append("")
    for node, _states, parents, table in tables:
        if not parents:
            lines.append(f"probability ( {node} ) {{")
            lines.append(f"  table {', '.join(_num(x) for x in table[0])};")
        else:
            lines.append(f"probability ( {node} | {', '.join(parents)} ) {{")
            for cfg, row in zip(priors.configs(node), table, strict=True):
                lines.append(f"  ({', '.join(cfg)}) {', '.join(_num(x) for x in row)};")
        lines.append("}")
    return "\n".join(lines) + "\n"


def to_xmlbif(priors: Priors, net: Network) -> str:
    tables = _tables(priors, net)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<BIF VERSION=\"0.3\">",
        "<NETWORK>",
        f"<NAME>{escape(priors.name)}</NAME>",
    ]
    for node, states, _parents, _t in tables:
        out.append('<VARIABLE TYPE="nature">')
        out.append(f"  <NAME>{escape(node)}</NAME>")
        out.extend(f"  <OUTCOME>{escape(s)}</OUTCOME>" for s in states)
        out.append("</VARIABLE>")
    for node, _states, parents, table in tables:
        out.append("<DEFINITION>")
        out.append(f"  <FOR>{escape(node)}</FOR>")
        out.extend(f"  <GIVEN>{escape(p)}</GIVEN>" for p in parents)
        out.append(f"  <TABLE>{' '.join(_num(x) for x in table.ravel())}</TABLE>")
        out.append("</DEFINITION>")
    out += ["</NETWORK>", "</BIF>"]
    return "\n".join(out) + "\n"
