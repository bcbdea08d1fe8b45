"""The book's chapter 10 itself: the table of its labs and figures (``labs``), the exercises' answers
(``exercise_answers``, ``gradient_descent``), the harness that runs the book's own code (``book_code``) and the
linear baselines (``baselines``). It builds on the core; the core never imports it."""
