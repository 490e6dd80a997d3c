"""Render a benchmark `Report` as Markdown tables and as a bar chart."""

from benchmarks.machine import RECORDED_VARIABLES
from benchmarks.records import Status

MIB = 2 ** 20


def _format_ratio(result):
    if result is None:
        return 'not run'
    if result.status is Status.ERROR:
        return 'error'
    if result.ratio is None:
        return 'n/a'
    text = f'{result.ratio:.3g}x'
    if result.status is Status.INVALID:
        return f'~~{text}~~ INVALID'
    return text


def _format_seconds(seconds):
    if seconds is None:
        return 'n/a'
    if seconds >= 1:
        return f'{seconds:.3g} s'
    if seconds >= 1e-3:
        return f'{seconds * 1e3:.3g} ms'
    return f'{seconds * 1e6:.3g} us'


def _format_memory(result):
    if result is None:
        return 'not run'
    if result.peak_memory is None:
        return 'n/a'
    text = f'{result.peak_memory / MIB:.3g}'
    return text if result.memory_traced else f'({text})*'


def _tool_columns(record):
    """(name, label) of every tool that ran, in the order they ran."""
    columns = []
    for workload in record.workloads:
        for result in workload.tools:
            if (result.tool, result.label) not in columns:
                columns.append((result.tool, result.label))
    return columns


def _grid(record, cell, include_primal=False):
    """Format a workloads x tools table, each cell made by `cell(result)`."""
    columns = [(name, label) for name, label in _tool_columns(record)
               if include_primal or name != 'primal']
    lines = ['| workload | ' + ' | '.join(label for _, label in columns) + ' |',
             '| --- |' + ' ---: |' * len(columns)]
    for workload in record.workloads:
        by_tool = {result.tool: result for result in workload.tools}
        cells = [cell(by_tool.get(name)) for name, _ in columns]
        lines.append(f'| {workload.name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def summary_table(record):
    """Format the ratio table, with the primal's own time first."""
    columns = [(name, label) for name, label in _tool_columns(record)
               if name != 'primal']
    lines = ['| workload | NumPy primal | '
             + ' | '.join(label for _, label in columns) + ' |',
             '| --- | ---: |' + ' ---: |' * len(columns)]
    for workload in record.workloads:
        by_tool = {result.tool: result for result in workload.tools}
        primal = by_tool.get('primal')
        cells = [_format_seconds(primal.median if primal else None)]
        cells += [_format_ratio(by_tool.get(name)) for name, _ in columns]
        lines.append(f'| {workload.name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _detail_table(workload):
    lines = ['| tool | median | ratio | calls per sample | first call | '
             'peak memory (MiB) | max relative error | status |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    for result in workload.tools:
        error = ('' if result.max_relative_error is None
                 else f'{result.max_relative_error:.1e}')
        status = result.status.value
        if result.message:
            # A bare | would end the table cell.
            status += ': ' + result.message.replace('|', '\\|')
        lines.append(
            f'| {result.label} | {_format_seconds(result.median)} | '
            f'{_format_ratio(result)} | {result.calls_per_sample or ""} | '
            f'{_format_seconds(result.first_call)} | '
            f'{_format_memory(result)} | {error} | {status} |')
    return '\n'.join(lines)


def _header(record):
    settings = record.settings
    machine = record.machine
    mode = 'quick' if settings.quick else 'full'
    environment = ', '.join(
        f'`{name}={machine.environment[name]}`'
        if machine.environment.get(name) is not None else f'`{name}` unset'
        for name in RECORDED_VARIABLES)
    versions = ', '.join(f'{library} {version}' for library, version in
                         record.versions.items())
    lines = [
        '# Benchmark results',
        '',
        f'Written by `python -m benchmarks.run{" --quick" if settings.quick else ""}` '
        f'on {record.started}, {mode} mode, in {record.seconds:.0f} s, at '
        f'commit {machine.commit}. How the numbers are measured, and what '
        'they show about adcompiler, is in [README.md](README.md).',
        '',
        '## Machine',
        '',
        f'- CPU: {machine.cpu_model}; `nproc` {machine.usable_cpus} '
        f'({machine.cpu_count} in the machine)',
        f'- Python {machine.python}; NumPy BLAS: {machine.numpy_blas}',
        f'- Versions: {versions}',
        f'- Environment: {environment}',
        '- Threads: every library pinned to one thread (the variables above, '
        'set before import, and `torch.set_num_threads(1)`)',
        f'- Allocator: {machine.allocator}',
        f'- Timing: {settings.rounds} interleaved rounds per workload, '
        f'samples of about {settings.sample_seconds * 1e3:.0f} ms, median '
        'per call',
    ]
    load = ', '.join(f'{value:.2f}' for value in machine.load_average)
    other = ('unknown' if record.other_cpu_seconds is None
             else f'{record.other_cpu_seconds:.0f} CPU seconds')
    lines.append(f'- Other load: load average {load} (1, 5, 15 minutes) at '
                 f'the start; other processes used {other} during the '
                 f'{record.seconds:.0f} s run')
    for label, reason in record.skipped.items():
        lines.append(f'- Skipped: {label}: {reason}')
    return '\n'.join(lines)


def markdown(record):
    """Render the whole RESULTS.md page."""
    sections = [
        _header(record),
        '## Gradient time / primal time\n\n'
        'Median time of one gradient divided by the median time of the '
        'NumPy primal (the workload function itself), both from the same '
        'run. The first column is the primal\'s own time. JAX and PyTorch '
        'are also divided by the NumPy primal, not by their own forward '
        'pass.\n\n' + summary_table(record),
        '## First call\n\n'
        'Seconds from making the gradient of a fresh copy of the function '
        '(so that no compile or trace cache holds it) to the end of its '
        'first call, after the library has been imported and warmed up on '
        'a trivial function. For adcompiler and JAX jit this is '
        'dominated by compilation.\n\n'
        + _grid(record, lambda r: _format_seconds(r.first_call)
                if r else 'not run'),
        '## Peak memory of one gradient (MiB)\n\n'
        'Peak `tracemalloc` memory during one call, above what was traced '
        'before it, results included. (*) tracemalloc does not see the '
        'memory of PyTorch\'s and XLA\'s allocators, so those numbers '
        'count only Python objects and are not comparable.\n\n'
        + _grid(record, _format_memory, include_primal=True),
    ]
    details = ['## Per workload']
    for workload in record.workloads:
        details.append(f'### {workload.name}\n\n{workload.description}.\n\n'
                       + _detail_table(workload))
    sections.append('\n\n'.join(details))
    failed = failures(record)
    if failed:
        sections.append('## Failures\n\n' + '\n'.join(
            f'- **{failure}**' for failure in failed))
    return '\n\n'.join(sections) + '\n'


def failures(record):
    """List one line for every gradient that disagreed or raised."""
    lines = []
    for workload in record.workloads:
        for result in workload.tools:
            if result.status is not Status.OK:
                lines.append(f'{result.label} on {workload.name}: '
                             f'{result.status.value}: {result.message}')
    return lines



def matplotlib_version():
    """The installed matplotlib's version, or None when it is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    return matplotlib.__version__


def plot(record, path):
    """Write a bar chart of the gradient/primal ratios, log scale, to path."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    columns = [(name, label) for name, label in _tool_columns(record)
               if name != 'primal']
    names = [workload.name for workload in record.workloads]
    width = 0.8 / max(1, len(columns))
    figure, axes = pyplot.subplots(figsize=(11, 5.5), layout='constrained')
    colors = pyplot.get_cmap('tab10')
    labelled = set()
    for index, (tool, label) in enumerate(columns):
        for position, workload in enumerate(record.workloads):
            result = next((r for r in workload.tools if r.tool == tool), None)
            x = position + (index - (len(columns) - 1) / 2) * width
            if result is None or result.ratio is None:
                if result is not None and result.status is Status.ERROR:
                    axes.text(x, 1, 'error', rotation=90, ha='center',
                              va='bottom', fontsize=7, color='red')
                continue
            invalid = result.status is Status.INVALID
            axes.bar(x, result.ratio, width,
                     color=colors(index), hatch='xx' if invalid else None,
                     edgecolor='red' if invalid else 'none',
                     label=None if tool in labelled else label)
            labelled.add(tool)
            axes.text(x, result.ratio * 1.05,
                      ('INVALID ' if invalid else '') + f'{result.ratio:.2g}',
                      rotation=90, ha='center', va='bottom', fontsize=7)
    axes.axhline(1.0, color='black', linewidth=0.8)
    axes.set_yscale('log')
    # Room above the tallest bar for its rotated value.
    bottom, top = axes.get_ylim()
    axes.set_ylim(bottom, top * 8)
    axes.set_xticks(range(len(names)), names)
    axes.set_ylabel('gradient time / NumPy primal time (log scale)')
    mode = 'quick' if record.settings.quick else 'full'
    axes.set_title(f'Gradient cost relative to the NumPy primal ({mode} '
                   f'sizes; lower is better; {record.machine.cpu_model}, '
                   'one thread)')
    axes.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
