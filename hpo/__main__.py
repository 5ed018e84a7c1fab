from hpo._cli import main

main()
