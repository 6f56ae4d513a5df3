"""Assert the warnings that the data force, and allow only named others.

A warning that depends on where round-off leaves a flat direction of the
likelihood (a gate between identical experts drifting to a step, say) may or may
not appear on a given processor; a test names such warnings as allowed instead of
asserting that they appear or that they do not.
"""

import contextlib
import re
import warnings


@contextlib.contextmanager
def expect_warnings(required, allowed=()):
    """Record the warnings of the block; fail unless every ``(category, pattern)``
    of ``required`` was raised and every other warning is of a category in
    ``allowed``.  Yields the list of recorded warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    for category, pattern in required:
        assert any(issubclass(w.category, category)
                   and re.search(pattern, str(w.message)) for w in caught), (
            f"no {category.__name__} matching {pattern!r}; got "
            f"{[(w.category.__name__, str(w.message)) for w in caught]}")
    expected = tuple(category for category, _ in required) + tuple(allowed)
    unexpected = [w for w in caught if not issubclass(w.category, expected)]
    assert not unexpected, [(w.category.__name__, str(w.message))
                            for w in unexpected]
