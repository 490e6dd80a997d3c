"""The records a benchmark run produces, shared by the runner and the report."""

import dataclasses
import enum


class Status(enum.Enum):
    """The outcome for one tool on one workload."""

    OK = 'ok'
    # The gradient disagrees with the hand-written one: timed, not valid.
    INVALID = 'invalid'
    # Raised an exception: not timed.
    ERROR = 'error'


@dataclasses.dataclass
class ToolResult:
    """One tool on one workload. Times are in seconds, memory in bytes."""

    tool: str
    label: str
    status: Status
    message: str = ''
    median: float | None = None
    ratio: float | None = None  # median / the NumPy primal's median
    calls_per_sample: int | None = None
    first_call: float | None = None
    peak_memory: int | None = None
    memory_traced: bool = True
    max_relative_error: float | None = None


@dataclasses.dataclass
class WorkloadResult:
    name: str
    description: str
    tools: list


@dataclasses.dataclass
class Settings:
    quick: bool
    rounds: int
    sample_seconds: float
    workloads: tuple
    tools: tuple


@dataclasses.dataclass
class Report:
    """Everything RESULTS.md and the plot show."""

    settings: Settings
    machine: object  # benchmarks.machine.Machine
    versions: dict  # library name -> version
    skipped: dict  # tool label -> why it was not run
    workloads: list
    started: str
    seconds: float
    # CPU seconds other processes used during the run; None if unknown.
    other_cpu_seconds: float | None = None
