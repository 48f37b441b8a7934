# kplan SAMPLE runner asset (see .bashrc in this directory).
PROMPT='%n@%m:%~%# '
