"""Many runs and their statistics: ``compare`` (methods side by side on shared training),
``seeds`` (repeats over seeds: mean, confidence intervals, paired differences), ``sweep``
(compression x method grids) and ``stats``.

Layer: above ``fedforget.run``; below ``fedforget.runtime`` and the CLI, which hand a
study the backend to run on.
"""
