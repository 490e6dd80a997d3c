"""Benchmark workloads: plain NumPy functions with a scalar output.

Each `Workload` pairs a function written the way NumPy users write it with a
hand-written NumPy gradient, the arguments to differentiate, and an input
maker for the full and the quick sizes.

The functions call NumPy only through the module-level name `np`, and only
functions that `autograd.numpy`, `jax.numpy` and `torch` also have under the
same names. The peers in `benchmarks.tools` run these same function bodies
with `np` rebound to their own module, so every tool differentiates the same
source. A workload must therefore call no helper function of its own: the
helper would keep the real NumPy.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Workload:
    """A function to differentiate, its reference gradient and its inputs.

    `make_inputs(quick)` returns the positional arguments as a tuple.
    `wrt` contains the positions of the differentiated arguments, and
    `gradient(*args)` returns one array (or float) per position in `wrt`.
    `static` contains the positions of integer arguments that fix the
    computation's shape (JAX's jit needs them as static arguments).
    """

    name: str
    description: str
    function: object
    gradient: object
    wrt: tuple
    make_inputs: object
    static: tuple = ()


# scalar_loop: a long chain of scalar updates ---------------------------------

SCALAR_LOOP_STEPS = 1000
SCALAR_LOOP_QUICK_STEPS = 100


def scalar_loop(x, steps):
    for _ in range(steps):
        x = x * 0.99 + np.sin(x) * 0.01
    return x


def scalar_loop_gradient(x, steps):
    values = []
    for _ in range(steps):
        values.append(x)
        x = x * 0.99 + np.sin(x) * 0.01
    dx = 1.0
    for value in reversed(values):
        dx = dx * (0.99 + np.cos(value) * 0.01)
    return (dx,)


def scalar_loop_inputs(quick):
    steps = SCALAR_LOOP_QUICK_STEPS if quick else SCALAR_LOOP_STEPS
    return (0.5, steps)


# mlp: a two-layer tanh network with a mean squared error ---------------------

def mlp(W1, W2, X, Y):
    hidden = np.tanh(X @ W1)
    output = hidden @ W2
    return np.mean((output - Y) ** 2)


def mlp_gradient(W1, W2, X, Y):
    hidden = np.tanh(X @ W1)
    residual = hidden @ W2 - Y
    d_output = 2.0 * residual / residual.size
    dW2 = hidden.T @ d_output
    d_pre = (d_output @ W2.T) * (1.0 - hidden ** 2)
    dW1 = X.T @ d_pre
    return (dW1, dW2)


def mlp_inputs(quick):
    samples, features, hidden, outputs = (
        (32, 16, 32, 4) if quick else (256, 64, 128, 10))
    rng = np.random.default_rng(0)
    W1 = rng.normal(size=(features, hidden)) / np.sqrt(features)
    W2 = rng.normal(size=(hidden, outputs)) / np.sqrt(hidden)
    X = rng.normal(size=(samples, features))
    Y = rng.normal(size=(samples, outputs))
    return (W1, W2, X, Y)


# rnn: a vanilla tanh recurrent network, loss on the final state --------------

def rnn(W_in, W_rec, inputs, h0):
    h = h0
    for t in range(inputs.shape[0]):
        h = np.tanh(inputs[t] @ W_in + h @ W_rec)
    return np.sum(h ** 2)


def rnn_gradient(W_in, W_rec, inputs, h0):
    states = [h0]
    for t in range(inputs.shape[0]):
        states.append(np.tanh(inputs[t] @ W_in + states[-1] @ W_rec))
    dW_in = np.zeros_like(W_in)
    dW_rec = np.zeros_like(W_rec)
    dh = 2.0 * states[-1]
    for t in reversed(range(inputs.shape[0])):
        d_pre = dh * (1.0 - states[t + 1] ** 2)
        dW_in += inputs[t].T @ d_pre
        dW_rec += states[t].T @ d_pre
        dh = d_pre @ W_rec.T
    return (dW_in, dW_rec)


def rnn_inputs(quick):
    steps, batch, features, hidden = (10, 4, 8, 16) if quick else (
        50, 16, 32, 64)
    rng = np.random.default_rng(1)
    W_in = rng.normal(size=(features, hidden)) / np.sqrt(features)
    # A Gaussian matrix with entries of variance 1/hidden has a spectral
    # radius near 1; the factor 0.9 keeps the state from growing over steps.
    W_rec = 0.9 * rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)
    inputs = rng.normal(size=(steps, batch, features))
    h0 = np.zeros((batch, hidden))
    return (W_in, W_rec, inputs, h0)


# elementwise: softplus, log(1 + exp(x)), summed ------------------------------

def elementwise(x):
    # The overflow-free form of log(1 + exp(x)), which is the log-sum-exp of
    # 0 and x: log1p(exp(-|x|)) + max(x, 0), with max(x, 0) = (x + |x|) / 2.
    return np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))


def elementwise_gradient(x):
    # The derivative of softplus is the logistic sigmoid, 1 / (1 + exp(-x)),
    # written with tanh so that it does not overflow.
    return (0.5 * (1.0 + np.tanh(0.5 * x)),)


def elementwise_inputs(quick):
    size = 10_000 if quick else 1_000_000
    return (np.random.default_rng(2).normal(scale=3.0, size=size),)


# rosenbrock: the chained Rosenbrock function ---------------------------------

def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_gradient(x):
    inner = x[1:] - x[:-1] ** 2
    dx = np.zeros_like(x)
    dx[:-1] = -400.0 * inner * x[:-1] - 2.0 * (1.0 - x[:-1])
    dx[1:] += 200.0 * inner
    return (dx,)


def rosenbrock_inputs(quick):
    size = 1_000 if quick else 10_000
    return (np.random.default_rng(3).uniform(-2.0, 2.0, size=size),)


WORKLOADS = (
    Workload('scalar_loop',
             f'{SCALAR_LOOP_STEPS} steps of x = x * 0.99 + sin(x) * 0.01 '
             f'on a float ({SCALAR_LOOP_QUICK_STEPS} in quick mode)',
             scalar_loop, scalar_loop_gradient, (0,), scalar_loop_inputs,
             static=(1,)),
    Workload('mlp',
             'tanh MLP, X 256x64, W1 64x128, W2 128x10, mean squared error, '
             'd/dW1 and d/dW2 (quick: 32x16, 16x32, 32x4)',
             mlp, mlp_gradient, (0, 1), mlp_inputs),
    Workload('rnn',
             'tanh RNN, 50 steps, batch 16, input 32, hidden 64, sum of '
             'squares of the final state, d/dW_in and d/dW_rec '
             '(quick: 10 steps, 4, 8, 16)',
             rnn, rnn_gradient, (0, 1), rnn_inputs),
    Workload('elementwise',
             'sum of softplus(x) = log1p(exp(-|x|)) + (x + |x|) / 2 on '
             '1,000,000 elements (quick: 10,000)',
             elementwise, elementwise_gradient, (0,), elementwise_inputs),
    Workload('rosenbrock',
             'Rosenbrock sum on 10,000 elements (quick: 1,000)',
             rosenbrock, rosenbrock_gradient, (0,), rosenbrock_inputs),
)

BY_NAME = {workload.name: workload for workload in WORKLOADS}
