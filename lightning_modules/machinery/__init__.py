"""What the core calls so a run can be trusted, and a reader never needs to open for an exercise.

The checks ``SimpleModule`` makes (:mod:`~lightning_modules.machinery.checks`), the checkpoints written whole
and the checks before a resume (``checkpoints``, ``resuming``), the log kept whole across a kill
(``resume_log``, ``run_logs``), stopping on a signal (``signals``), and the one home of Lightning's private
parts (``lightning_internals``). It imports nothing of the core above it, the run layer or the chapter.
"""
