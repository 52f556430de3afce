"""Teaching tools built on the engines and renderers: quiz, diagnoses, worked-solution checker, random
networks, worksheets, and one module per LMS export format (``moodle``)."""
