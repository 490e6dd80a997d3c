"""Test-session hooks: a report line for the differential fuzzer."""

import sys


def pytest_terminal_summary(terminalreporter):
    fuzz = sys.modules.get('test_fuzz')
    if fuzz is None:
        return
    tally = fuzz.TALLY
    terminalreporter.write_line(
        f'fuzzer: {tally["checked"]} random programs checked against finite '
        f'differences ({tally["autograd"]} also against autograd), '
        f'{tally["rejected"]} rejected with an AdCompilerError')
