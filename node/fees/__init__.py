"""Fee estimation: what fee rate gets a tx included within N blocks with probability P.

Three estimators share one interface (``estimator.py``): the learned
quantile model (``quantile.py``, its file format in ``model.py``) and two
baselines beside it, a Bitcoin Core-style bucket estimator (``buckets.py``)
and a geth-style percentile of recent blocks (``percentile.py``). They are
pure: no asyncio, no clock; time comes in with what they observe.
``live.py`` reads a node's mempool and blocks into their views,
``train.py`` fits the model and ``bench.py`` measures all three on
replayed workloads (docs/FEES.md).
"""
