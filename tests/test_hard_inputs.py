"""Inputs that are easy to get wrong: names, imports, redefinition, threads."""

import importlib.util
import math
import sys
import textwrap
import threading

import numpy
import numpy as xp
import pytest
from numpy import sin

import adcompiler
from finite_differences import numerical_gradient


def generated_names(x):
    dx = x * 2.0
    bx = dx + 1.0
    _tape = [bx]
    adcompiler_ = _tape[0] * x
    ad = adcompiler_ + 1.0
    np = ad * 2.0
    saved = np - 1.0
    return saved * x


def test_user_names_like_generated_ones():
    expected = numerical_gradient(generated_names, (0.7,), 0)
    assert adcompiler.grad(generated_names)(0.7) == pytest.approx(expected,
                                                                 rel=1e-6)


def numpy_without_alias(x):
    return numpy.sum(numpy.sin(x) * x)


def numpy_as_other_name(x):
    return xp.sum(xp.sin(x) * x)


def imported_sin(x):
    return xp.sum(sin(x) * x)


@pytest.mark.parametrize('function', [numpy_without_alias,
                                      numpy_as_other_name, imported_sin],
                         ids=lambda f: f.__name__)
def test_numpy_imported_any_way(function):
    x = numpy.array([0.3, -1.2, 2.0])
    expected = numpy.cos(x) * x + numpy.sin(x)
    numpy.testing.assert_allclose(adcompiler.grad(function)(x), expected)


def exp(x):
    """A user function named like numpy.exp, with other behaviour."""
    return x * 3.0


def uses_own_exp(x):
    return xp.sum(exp(x) + xp.exp(x))


def test_user_function_named_like_numpy():
    x = numpy.array([0.1, 0.5])
    numpy.testing.assert_allclose(adcompiler.grad(uses_own_exp)(x),
                                  3.0 + numpy.exp(x))


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_redefined_helper_recompiles(tmp_path):
    path = tmp_path / 'notebook_cell.py'
    path.write_text(textwrap.dedent('''\
        def helper(x):
            return x * 2.0

        def loss(x):
            return helper(x) ** 2
        '''))
    module = _load(path, 'notebook_cell')
    gradient = adcompiler.grad(module.loss)
    assert gradient(1.5) == pytest.approx(12.0)

    def helper(x):
        return x * 3.0
    module.helper = helper
    assert gradient(1.5) == pytest.approx(27.0)


def slow_to_compile(x):
    s = 0.0
    for i in range(5):
        if x > i:
            s = s + math.sin(x * i)
        else:
            s = s - x
    return s


def test_compiled_once_from_eight_threads():
    gradient = adcompiler.grad(slow_to_compile)
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(index):
        barrier.wait()
        results[index] = gradient(2.5)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = sum(i * math.cos(2.5 * i) for i in range(3)) - 2.0
    assert all(r == pytest.approx(expected) for r in results)
    assert gradient.compiled() is gradient.compiled()


def countdown(x, n):
    if n == 0:
        return x
    return countdown(x * 1.01, n - 1)


def test_deep_recursion():
    assert adcompiler.grad(countdown)(1.0, 200) == pytest.approx(1.01 ** 200)


def test_long_function(tmp_path):
    lines = ['def long_function(x):', '    s = x']
    lines += [f'    s = s + {i % 7 + 1}.0 * x' for i in range(5000)]
    lines += ['    return s']
    path = tmp_path / 'long_function.py'
    path.write_text('\n'.join(lines) + '\n')
    module = _load(path, 'long_function')
    expected = 1.0 + sum(i % 7 + 1 for i in range(5000))
    assert adcompiler.grad(module.long_function)(0.5) == pytest.approx(
        expected)


def cube_sum(x):
    return xp.sum(x ** 3)


def test_float32_stays_float32():
    x = numpy.array([0.5, 1.5], dtype=numpy.float32)
    assert adcompiler.grad(cube_sum)(x).dtype == numpy.float32


def test_nan_input_propagates():
    x = numpy.array([numpy.nan, 1.0])
    gradient = adcompiler.grad(cube_sum)(x)
    assert numpy.isnan(gradient[0])
    assert gradient[1] == pytest.approx(3.0)


@pytest.mark.parametrize('value', [
    pytest.param(3, id='int'), pytest.param(True, id='bool'),
    pytest.param(numpy.array([1, 2]), id='int-array'),
    pytest.param(numpy.array([True, False]), id='bool-array')])
def test_integer_wrt_argument_raises(value):
    with pytest.raises(adcompiler.InvalidArgumentError) as info:
        adcompiler.grad(cube_sum)(value)
    assert 'float' in str(info.value)


def chosen_power_sum(x, mode):
    return xp.sum(x ** 2) if mode == 'sq' else xp.sum(x)


@pytest.mark.parametrize('mode', [
    pytest.param('sq', id='str'), pytest.param(None, id='none'),
    pytest.param(numpy.array(['sq']), id='str-array')])
def test_string_wrt_argument_gets_none(mode):
    x = numpy.array([0.5, 1.5])
    assert adcompiler.grad(chosen_power_sum, wrt=1)(x, mode) is None
    value, gradients = adcompiler.value_and_grad(
        chosen_power_sum, wrt=(0, 1))(x, mode)
    assert value == pytest.approx(chosen_power_sum(x, mode))
    expected = 2 * x if mode is not None else numpy.ones(2)
    numpy.testing.assert_allclose(gradients[0], expected)
    assert gradients[1] is None


def power_sum(x, n):
    return xp.sum(x ** n)


def test_integer_argument_not_differentiated_is_fine():
    x = numpy.array([0.5, 1.5])
    numpy.testing.assert_allclose(adcompiler.grad(power_sum)(x, 3),
                                  3 * x ** 2)


def fails_on_a_singular_step(x, a):
    total = 0.0
    for k in range(3):
        m = a * (k - 1.0) + IDENTITY * x[k]
        total = total + numpy.sum(numpy.linalg.inv(m)) * x[k]
    return total


IDENTITY = numpy.eye(2)


def test_no_state_after_exception():
    """A call that raises inside the primal leaves nothing behind: the next
    call gives the right gradient, and nothing keeps a reference to the inputs."""
    import gc
    import weakref

    gradient = adcompiler.grad(fails_on_a_singular_step)
    a = numpy.ones((2, 2))
    singular = numpy.array([0.0, 0.5, 0.7])   # k = 0 gives a singular matrix
    for _ in range(2):
        with pytest.raises(numpy.linalg.LinAlgError):
            gradient(singular, a)
    x = numpy.array([0.3, 0.5, 0.7])
    expected = numerical_gradient(fails_on_a_singular_step, (x, a), 0)
    numpy.testing.assert_allclose(gradient(x, a), expected, rtol=1e-6)

    probe = numpy.array([0.0, 0.4, 0.9])
    alive = weakref.ref(probe)
    with pytest.raises(numpy.linalg.LinAlgError):
        gradient(probe, a)
    del probe
    gc.collect()
    assert alive() is None, 'a failed call kept a reference to its argument'


def root_where_positive(x):
    total = 0.0
    for k in range(x.shape[0]):
        if x[k] > 0.0:
            total = total + numpy.sqrt(x[k])
        else:
            total = total + 0.5 * x[k]
    return total


def test_branch_not_taken_gives_no_nan():
    x = numpy.array([4.0, -1.0, 0.0])
    gradient = adcompiler.grad(root_where_positive)(x)
    numpy.testing.assert_allclose(gradient, [0.25, 0.5, 0.5])


def scaled_sum(x):
    return numpy.sum(3.0 * x)


def exp_of_negative(x):
    return numpy.sum(numpy.exp(-x))


def test_inf_input_propagates_as_numpy_does():
    x = numpy.array([numpy.inf, -numpy.inf, 1.0])
    # The primal sums inf and -inf, and warns as NumPy does for the value.
    with pytest.warns(RuntimeWarning, match='invalid value'):
        value, gradient = adcompiler.value_and_grad(scaled_sum)(x)
    assert numpy.isnan(value)
    numpy.testing.assert_array_equal(gradient, [3.0, 3.0, 3.0])
    # grad leaves out the sum, which it does not return.
    gradient = adcompiler.grad(scaled_sum)(x)
    numpy.testing.assert_array_equal(gradient, [3.0, 3.0, 3.0])
    with numpy.errstate(over='ignore', invalid='ignore'):
        gradient = adcompiler.grad(exp_of_negative)(x)
        expected = -numpy.exp(-x)
        numpy.testing.assert_array_equal(gradient, expected)
