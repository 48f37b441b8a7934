# kplan SAMPLE runner asset (see .bashrc in this directory).
[ -f ~/.bashrc ] && . ~/.bashrc
