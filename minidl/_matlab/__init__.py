"""The _matlab room: MATLAB's conventions, used by every other room; imports nothing from minidl.

``args`` parses Name-Value arguments and validates options (one checker per kind of value, so
one mistake gives one error everywhere); ``display`` formats numbers, sizes and property lists as
MATLAB displays them.
"""

from .args import (
    FORMAT_LABELS,
    MAX_DIMENSIONS,
    MAX_INT,
    as_numeric,
    check_choice,
    check_class_names,
    check_finite_real,
    check_flag,
    check_format_text,
    check_in_range,
    check_nonneg_int,
    check_nonneg_real,
    check_positive_int,
    check_positive_real,
    check_text,
    closest,
    parse_name_value,
    to_padding,
    to_pair,
    unknown_name_message,
)
from .display import (
    MString,
    PropertyGroup,
    format_properties,
    format_scalar,
    format_value,
    is_int,
    is_real,
    mat2str,
    size_str,
)

__all__ = [
    "FORMAT_LABELS", "MAX_DIMENSIONS", "MAX_INT", "as_numeric", "check_class_names",
    "check_finite_real", "check_format_text",
    "MString", "PropertyGroup", "check_choice", "check_flag", "check_in_range", "check_nonneg_int",
    "check_nonneg_real", "check_positive_int", "check_positive_real", "check_text", "closest",
    "format_properties", "format_scalar", "format_value", "is_int", "is_real", "mat2str",
    "parse_name_value", "size_str", "to_padding", "to_pair", "unknown_name_message",
]
