"""Syntax functions for test_syntax_coverage that Python 3.10 cannot parse.

test_syntax_coverage imports this module only on Python 3.11 and later.
"""


def uses_try_star(x):
    try:
        y = x * 2.0
    except* ValueError:
        y = x
    return y


def uses_plain_except_for_group(x):
    y = x * 1.0
    try:
        y = y * x
        raise ExceptionGroup('group', [ValueError('a')])
    except ExceptionGroup as group:
        if group.subgroup(ValueError) is not None:
            y = y + x
    return y
