"""`mlmd server ...`: the `mlmd-server` command under `mlmd`, with exactly its flags (it hands them over
unparsed to `mlmd_core.grpc.server.main`, so the two can never disagree)."""

from __future__ import annotations

import click

from mlmd_core.cli.target import examples

EPILOG = ("Takes the flags of `mlmd-server` (ml-metadata's metadata_store_server flags, gflags spellings too), "
          "listed below.\n\n"
          + examples("mlmd server --grpc_port=8080 --metadata_store_server_config_file=server.pbtxt",
                     "mlmd artifacts --db grpc://127.0.0.1:8080   # from another shell"))


@click.command(epilog=EPILOG, add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def server(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Serve a store over gRPC (MLMD's MetadataStoreService) until SIGTERM/Ctrl-C."""
    from mlmd_core.grpc import server as grpc_server

    if any(a in ("-h", "--help") for a in args):
        click.echo(ctx.get_help())
        click.echo()
        parser = grpc_server.build_parser()
        parser.prog = "mlmd server"
        click.echo(parser.format_help().rstrip())
        return
    code = grpc_server.main(list(args))
    if code:
        raise click.exceptions.Exit(code)
