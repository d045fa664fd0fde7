"""Typed, self-describing node parameters (descriptors with ranges and choices)."""
from __future__ import annotations

from typing import Any, Sequence

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter

__all__ = ['declare', 'descriptor', 'check_choices']


def declare(node: Node, name: str, default: Any, description: str, *,
            read_only: bool = False, min_value: float | None = None,
            max_value: float | None = None, choices: Sequence[str] | None = None) -> Any:
    """Declare ``name`` with a typed default and a descriptor; return its current value.

    Ranges become Integer/FloatingPointRange (rclpy rejects values outside them);
    ``choices`` are listed in the description and enforced by :func:`check_choices`.
    """
    desc = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        desc.additional_constraints = 'one of: ' + ', '.join(choices)
    if min_value is not None or max_value is not None:
        lo = min_value if min_value is not None else -2**31
        hi = max_value if max_value is not None else 2**31 - 1
        if isinstance(default, bool):
            raise TypeError('ranges make no sense for a bool parameter')
        if isinstance(default, int):
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                            to_value=float(hi), step=0.0)]
    return node.declare_parameter(name, default, desc).value


def descriptor(description: str, *, read_only: bool = False,
               float_range: tuple[float, float] | None = None,
               int_range: tuple[int, int] | None = None) -> ParameterDescriptor:
    """A ``ParameterDescriptor`` for nodes that declare parameters from a table.

    ``float_range``/``int_range`` are inclusive ``(low, high)`` bounds that rclpy enforces
    (integers in steps of 1).
    """
    d = ParameterDescriptor(description=description, read_only=read_only)
    if float_range is not None:
        lo, hi = float_range
        d.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi)]
    if int_range is not None:
        lo, hi = int_range
        d.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=1)]
    return d


def check_choices(params: list[Parameter], choices: dict[str, Sequence[str]]
                  ) -> SetParametersResult:
    """A parameters callback body: reject values not among a parameter's choices."""
    for p in params:
        allowed = choices.get(p.name)
        if allowed is not None and p.value not in allowed:
            return SetParametersResult(successful=False, reason=(
                f'{p.name} must be one of {", ".join(allowed)}; got {p.value!r}'))
    return SetParametersResult(successful=True)
