"""Operator tools over consumer groups: replay, shadow rebuilds, status and live members."""
