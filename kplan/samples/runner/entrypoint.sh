# kplan sample placeholder for entrypoint.sh (not Backend.AI's file)
