from forecaster.cli.main import run

run()
