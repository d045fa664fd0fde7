"""Typed, self-describing node parameters (descriptors with ranges and choices)."""
from __future__ import annotations

from typing import Any, Sequence

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter

__all__ = ['declare', 'check_choices']


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


def check_choices(params: list[Parameter], choices: dict[str, Sequence[str]]
                  ) -> SetParametersResult:
    """A parameters callback body: reject values not among a parameter's choices."""
    for p in params:
        allowed = choices.get(p.name)
        if allowed is not None and p.value not in allowed:
            return SetParametersResult(successful=False, reason=(
                f'{p.name} must be one of {", ".join(allowed)}; got {p.value!r}'))
    return SetParametersResult(successful=True)
