"""Command-line interface: print the code adcompiler generates.

    adcompiler dump FILE.py:FUNC [--mode reverse|forward] [--order 1|2]
                                 [--inner reverse|forward]
                    [--wrt NAME ...] [--float NAME ...]
                    [--shape NAME=SHAPE[:DTYPE] ...] [--no-optimize]
    adcompiler demo

The module is imported the way pytest imports a test file (its directory is
put on sys.path and its top level runs), then FUNC is compiled and the
generated primal and adjoint are printed. `demo` prints the generated
gradient of Rosenbrock's function and checks it. Exit status: 0 on success, 1 for a
compile error, 2 for a usage error (missing file, function or argument).
"""

import argparse
import importlib.util
import inspect
import types
import pathlib
import sys

from adcompiler import demo, known_shapes, origins
from adcompiler.api import grad
from adcompiler.api import gradient_objective, tangent_objective
from adcompiler.compiler import Compiler
from adcompiler.errors import AdCompilerError


def _parser():
    parser = argparse.ArgumentParser(
        prog='adcompiler',
        description='Source-to-source automatic differentiation for Python.')
    commands = parser.add_subparsers(dest='command', required=True)
    dump = commands.add_parser(
        'dump', help='print the generated primal and adjoint of a function')
    # Optional here so that a FILE.py:FUNC read into a --wrt or --float
    # list can be recovered (see `_recover_target`).
    dump.add_argument('target', metavar='FILE.py:FUNC', nargs='?',
                      help='the Python file and the function in it; a method '
                      'by its class: FILE.py:Layer.loss')
    dump.add_argument('--wrt', nargs='+', action='extend', metavar='NAME',
                      help='parameters to differentiate (default: the first)')
    dump.add_argument('--mode', choices=('reverse', 'forward'),
                      default='reverse',
                      help='reverse: primal and adjoint (default); forward: '
                           'the tangent function')
    dump.add_argument('--order', type=int, choices=(1, 2), default=1,
                      help='1: first derivative (default); 2: the code of a '
                           'Hessian-vector product: --mode differentiates '
                           'the first derivative that --inner makes')
    dump.add_argument('--inner', choices=('reverse', 'forward'),
                      help='with --order 2, the mode of the first '
                           'derivative: forward (the tangent function, the '
                           'default with --mode reverse) or reverse (the '
                           'gradient, the default with --mode forward)')
    dump.add_argument('--float', nargs='+', action='extend', metavar='NAME',
                      dest='floats',
                      help='parameters given Python floats: print the code '
                           'grad compiles for such arguments (reverse mode, '
                           'order 1)')
    dump.add_argument('--shape', nargs='+', action='extend',
                      metavar='NAME=SHAPE[:DTYPE]',
                      dest='shapes',
                      help='parameters given arrays of these shapes, such as '
                           'x=16,64 or z=3:complex128 (DTYPE defaults to '
                           'float64; x= is a 0-d array): print the code grad '
                           'compiles for such arguments (reverse mode, order '
                           '1)')
    dump.add_argument('--no-optimize', action='store_true',
                      help='print the code before the optimization passes')
    commands.add_parser(
        'demo', help="print the gradient code of Rosenbrock's function")
    return parser


def _load_module(path):
    """Import the file at `path` as a module, with its folder on sys.path."""
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _fail(message, status):
    print(f'adcompiler: error: {message}', file=sys.stderr)
    return status


def dump(target, wrt=None, optimize=True, mode='reverse', order=1,
         inner=None, floats=(), shapes=()):
    """Return the generated source of FILE.py:FUNC as a string, compiled
    for Python float arguments of the parameters in `floats` and, when
    `shapes` (`NAME=SHAPE[:DTYPE]` strings) is given, for arrays of these
    shapes and dtypes."""
    filename, _, function_name = target.rpartition(':')
    if not filename or not function_name:
        raise FileNotFoundError(
            f'expected FILE.py:FUNC, got {target!r}')
    path = pathlib.Path(filename)
    if not path.is_file():
        raise FileNotFoundError(f'file not found: {filename}')
    try:
        module = _load_module(path)
    except Exception as err:  # The user's module failed; report, not crash.
        raise LookupError(f'importing {filename} failed: '
                          f'{type(err).__name__}: {err}') from err
    # A dotted name such as Layer.loss names a method of a class.
    function = module
    for attribute in function_name.split('.'):
        function = getattr(function, attribute, None)
        if function is None:
            raise LookupError(
                f'{filename} has no function named {function_name!r}')
    function = getattr(function, 'function', function)  # A grad-decorated one.
    if not isinstance(function, types.FunctionType):
        raise LookupError(f'{function_name} in {filename} is a '
                          f'{type(function).__name__}, not a function')
    parameters = list(inspect.signature(function).parameters)
    if not parameters:
        raise LookupError(f'{function_name} has no parameters to differentiate')
    wrt = tuple(wrt or parameters[:1])
    unknown = [name for name in wrt if name not in parameters]
    if unknown:
        raise LookupError(f'{function_name} has no parameter named '
                          f'{unknown[0]!r}; its parameters are {parameters}')
    floats = tuple(floats or ())
    unknown = [name for name in floats if name not in parameters]
    if unknown:
        raise LookupError(f'--float {unknown[0]}: {function_name} has no '
                          f'parameter of that name; its parameters are '
                          f'{parameters}')
    if inner is not None and order != 2:
        raise LookupError('--inner applies to --order 2 only; add --order 2 '
                          'or drop --inner')
    if floats and (mode != 'reverse' or order != 1):
        raise LookupError('--float applies to the reverse mode of order 1 '
                          'only; drop --mode forward and --order 2')
    argument_shapes = None
    if shapes:
        if mode != 'reverse' or order != 1:
            raise LookupError('--shape applies to the reverse mode of order '
                              '1 only; drop --mode forward and --order 2')
        argument_shapes = _argument_shapes(shapes, floats, parameters,
                                           function_name)
    compiler = Compiler(optimize=optimize)
    if order == 2:
        # Second order: `mode` over f's tangent function or over f's
        # gradient, as hvp runs it.
        wrt = (wrt[0],)
        if inner is None:
            inner = 'reverse' if mode == 'forward' else 'forward'
        if inner == 'reverse':
            objective = gradient_objective(function, wrt[0])
        else:
            objective = tangent_objective(function, wrt[0])
        if mode == 'forward':
            compiled = compiler.compile_forward(objective, wrt)
        else:
            compiled = compiler.compile(objective, wrt)
        return _second_order_source(compiled, function, filename, mode,
                                    inner)
    if mode == 'forward':
        return compiler.compile_forward(function, wrt).source
    return compiler.compile(function, wrt, scalar_params=frozenset(floats),
                            argument_shapes=argument_shapes).source


def _second_order_source(compiled, function, filename, mode, inner):
    """Return the source of `compiled` and its callees, as `.source` does,
    under a header and with comments that name the user's lines.

    Code generated from generated code (the tangent or gradient of
    `function`) has comments that name lines of that generated code, and
    they are replaced with the lines of the user's file they came from.
    The objective that calls it is a wrapper that adcompiler writes, whose
    comments are marked as wrapper lines.
    """
    texts, own_texts = [], []
    seen = set()
    pending = [compiled]
    home = origins.source_file(function)
    while pending:
        current = pending.pop(0)
        if current.filename in seen:
            continue
        seen.add(current.filename)
        text = current.module_source
        code = getattr(current.function, '__code__', None)
        source_file = code.co_filename if code is not None else ''
        if origins.is_generated(source_file):
            text = origins.with_user_line_comments(text, source_file, home)
        elif source_file.startswith('<adcompiler '):
            text = text.replace('# line ', '# wrapper line ')
        elif source_file and source_file != home:
            text = origins.with_file_in_line_comments(text, source_file)
        if origins.is_adcompiler_file(origins.original_file(source_file)):
            own_texts.append(text)
        else:
            texts.append(text)
        pending.extend(current.callees)
    if own_texts:
        texts.append(origins.OWN_CODE_HEADING + '\n\n'.join(own_texts))
    first = 'tangent function' if inner == 'forward' else 'gradient'
    header = (f'# Hessian-vector product of {function.__name__}: {mode} mode '
              f'over its {first}.\n'
              f'# "# line N:" comments name lines of {filename},\n'
              '# "# FILE, line N:" comments lines of another file, and\n'
              '# "# wrapper line N:" comments lines of the wrapper that\n'
              f'# adcompiler writes around the {first}.\n\n')

    return header + '\n\n'.join(texts)


def _argument_shapes(shapes, floats, parameters, function_name):
    """Return the `ArgumentShapes` of `--shape` and `--float` arguments."""
    described = {name: known_shapes.Known((), known_shapes.REAL, True)
                 for name in floats}
    for text in shapes:
        name, equals, rest = text.partition('=')
        dims, _, dtype = rest.partition(':')
        if not equals or name not in parameters:
            raise LookupError(f'--shape {text}: expected NAME=SHAPE with '
                              f'NAME a parameter of {function_name}, one of '
                              f'{parameters}')
        try:
            shape = tuple(int(d) for d in dims.split(',') if d.strip())
            known = known_shapes.describe_array(shape, dtype or 'float64')
        except (TypeError, ValueError) as err:
            raise LookupError(f'--shape {text}: invalid shape or dtype '
                              f'({err}); write a shape such as 16,64 and a '
                              f'NumPy dtype such as float64') from err
        if known is None:
            raise LookupError(f'--shape {text}: {dtype} is not a dtype of '
                              'numbers')
        if any(size < 0 for size in shape):
            raise LookupError(f'--shape {text}: invalid shape with a '
                              'negative size. Write sizes of 0 or more, such '
                              'as 16,64')
        described[name] = known
    return known_shapes.ArgumentShapes(tuple(
        (name, described[name]) for name in parameters if name in described))


def _recover_target(arguments, parser):
    """Set `arguments.target` when `--wrt x y FILE.py:FUNC` read the target
    into the list of names: a parameter name has no ':' in it."""
    if arguments.target is not None:
        return
    for names in (arguments.wrt, arguments.floats, arguments.shapes):
        # A shape has '=' in it (x=3:complex128); a target has not.
        if names and ':' in names[-1] and '=' not in names[-1]:
            arguments.target = names.pop()
            if not names:
                parser.error('--wrt, --float and --shape need at least one '
                             'NAME')
            return
    parser.error('the following arguments are required: FILE.py:FUNC')


def main(argv=None):
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command == 'demo':
        return demo.run(grad, sys.stdout)
    _recover_target(arguments, parser)
    try:
        text = dump(arguments.target, arguments.wrt,
                    optimize=not arguments.no_optimize, mode=arguments.mode,
                    order=arguments.order, inner=arguments.inner,
                    floats=arguments.floats, shapes=arguments.shapes)
    except (FileNotFoundError, LookupError) as err:
        return _fail(str(err), 2)
    except AdCompilerError as err:
        return _fail(str(err), 1)
    sys.stdout.write(text)
    return 0
