"""The import direction: api -> stages -> rules -> runtime, never upward."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'adcompiler'
STAGES = {'parse', 'normalize', 'resolve', 'activity', 'reverse', 'optimize',
          'emit', 'naming', 'errors'}


def _adcompiler_imports(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith('adcompiler'):
                names.add(node.module)
                names.update(f'{node.module}.{a.name}' for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names
                         if a.name.startswith('adcompiler'))
    return names


def _modules():
    return sorted(p for p in PACKAGE.rglob('*.py'))


@pytest.mark.parametrize('path', _modules(), ids=lambda p: p.stem)
def test_no_module_imports_api_or_cli(path):
    if path.stem in ('api', 'cli', '__init__', '__main__'):
        return
    imports = _adcompiler_imports(path)
    assert not {'adcompiler.api', 'adcompiler.cli'} & imports


def test_runtime_imports_only_numpy_and_math():
    tree = ast.parse((PACKAGE / 'runtime.py').read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {'math', 'numpy'}


@pytest.mark.parametrize('path', sorted((PACKAGE / 'rules').glob('*.py')),
                         ids=lambda p: p.stem)
def test_rules_import_no_stage(path):
    imports = _adcompiler_imports(path)
    stages = {f'adcompiler.{s}' for s in STAGES - {'errors'}}
    assert not stages & imports
