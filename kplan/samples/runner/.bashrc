# kplan SAMPLE runner asset -- not the Backend.AI runner's .bashrc.
# kplan ships it so its demo works without the real ai.backend.runner package;
# set KPLAN_RUNNER_DIR or let kplan build the legacy venv to use the real files.
export PS1='\u@\h:\w\$ '
alias ll='ls -al'
