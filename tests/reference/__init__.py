"""Plain ports of google-research/bert's algorithms: the oracles of the tests.

Each module here redoes one of the original's modules step by step, with the
original's data structures and no caching or other speed-ups, and imports
nothing from `official_bert`, so that it can check the library and serve as
the speed reference of `benchmarks/` (which import it from here; tests never
import benchmarks).
"""
