"""Where foreign-call errors point, and which callee and fix they name,
for calls dispatched at run time and callees with only a reverse rule."""

import inspect

import numpy as np
import pytest

import adcompiler

X = np.array([0.3, -1.2, 0.7])

_UNRULED_CUBE = np.frompyfunc(lambda v: v ** 3, 1, 1)

# A ufunc with a reverse rule and no forward rule.
reverse_only_cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
adcompiler.register_vjp(reverse_only_cube,
                        lambda g, ans, v: (g * 3 * v ** 2,))


class Doubler:

    def apply(self, x):
        y = x * 2.0
        return np.asarray(_UNRULED_CUBE(y), dtype=float)


def calls_method(x, model):
    return np.sum(model.apply(x))


def calls_reverse_only_cube(x):
    return np.sum(np.asarray(reverse_only_cube(2.0 * x), dtype=float))


def calls_held(x, function):
    y = x * 2.0
    return np.sum(np.asarray(function(y), dtype=float))


def _line_of(function, text):
    """Return the file line number of the line of `function` with `text`."""
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if text in line)


MODES = {
    'grad': lambda f, x, *rest: adcompiler.grad(f)(x, *rest),
    'jvp': lambda f, x, *rest: adcompiler.jvp(
        lambda x: f(x, *rest), (x,), (np.ones_like(x),)),
}


@pytest.mark.parametrize('mode', list(MODES))
def test_dispatched_method_error_line(mode):
    with pytest.raises(adcompiler.ForeignCallError) as info:
        MODES[mode](calls_method, X, Doubler())
    error = info.value
    assert error.filename == __file__
    assert error.lineno == _line_of(Doubler.apply, '_UNRULED_CUBE(y)')
    assert error.active_argument == 'y'
    assert '^' in str(error)


@pytest.mark.parametrize('mode', list(MODES))
def test_dispatched_method_error_chain(mode):
    with pytest.raises(adcompiler.ForeignCallError) as info:
        MODES[mode](calls_method, X, Doubler())
    chain = info.value.call_chain
    assert chain[-2].endswith('calls_method')
    assert chain[-1].endswith('Doubler.apply')
    assert len(chain) == len(set(chain))


@pytest.mark.parametrize('mode', list(MODES))
def test_dispatched_function_error_at_site(mode):
    with pytest.raises(adcompiler.ForeignCallError) as info:
        MODES[mode](calls_held, X, _UNRULED_CUBE)
    error = info.value
    assert error.lineno == _line_of(calls_held, 'function(y)')
    # The parameter's name, and the object's name for the fixes, which
    # are written where `function` is not defined.
    assert error.callee_name == "function (the ufunc '_UNRULED_CUBE')"
    rule = 'register_vjp' if mode == 'grad' else 'register_jvp'
    assert f'{rule}(_UNRULED_CUBE)' in str(error)
    assert 'non_differentiable(_UNRULED_CUBE)' in str(error)
    assert error.call_chain[-1].endswith('calls_held')
    assert len(error.call_chain) == len(set(error.call_chain))


def test_reverse_only_ufunc_jvp_names_callee():
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.jvp(calls_reverse_only_cube, (X,), (np.ones(3),))
    message = str(info.value)
    assert info.value.callee_name == 'reverse_only_cube'
    assert 'register_jvp(reverse_only_cube)' in message
    assert '<lambda>' not in message
    assert 'register_vjp(' not in message


def test_reverse_only_ufunc_dispatched_jvp_names_callee():
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.jvp(lambda x: calls_held(x, reverse_only_cube), (X,),
                       (np.ones(3),))
    message = str(info.value)
    assert info.value.lineno == _line_of(calls_held, 'function(y)')
    assert 'register_jvp(reverse_only_cube)' in message
    assert '<lambda>' not in message.split('Call chain')[0]


def test_reverse_only_ufunc_gradient():
    gradient = adcompiler.grad(calls_reverse_only_cube)(X)
    np.testing.assert_allclose(np.asarray(gradient, dtype=float),
                               24.0 * X ** 2)
