# kplan sample placeholder for yank.sh (not Backend.AI's file)
