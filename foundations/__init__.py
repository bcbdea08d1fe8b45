"""What every other package stands on: the user's errors (:mod:`foundations.errors`) and files written whole
(:mod:`foundations.files`). A leaf: it imports nothing of the project."""
