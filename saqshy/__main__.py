from saqshy.cli import main

main()
