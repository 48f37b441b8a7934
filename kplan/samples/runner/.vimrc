" kplan SAMPLE runner asset (see .bashrc in this directory).
set nocompatible
syntax on
