"""Measuring: what a test's code costs. Imports point down only (no gate or report module here).

``timing``: the timing loop behind ``perf.measure``; ``stats``: its statistics (``PerfStats``, the
percentile). ``instructions``: instruction counts of a call, in a separate process under Valgrind
(``perf.measure(..., counter="instructions")``); ``valgrind`` (is it here, the pinned environment),
``countable`` (the call, checked and pickled), ``count_env`` (where counts compare) around it.
"""
