"""``python -m rag`` / ``fiches-rag``: import, index, search, eval, ask.

With ``--json``, stdout carries only JSON; progress and logs go to stderr. Any
:class:`~rag.errors.RagError` becomes one readable line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.cli.conversations import add_parsers as add_conversation_parsers
from rag.cli.output import answer_json, format_sources, hit_json, print_json
from rag.cli.parser import FrenchArgumentParser, add_command
from rag.cli.serve import add_parsers as add_serve_parsers
from rag.config import get_settings
from rag.errors import InputError, RagError
from rag.search.retrieval import check_k

log = logging.getLogger("rag")

DESCRIPTION = ("Assistant sur le catalogue des fiches d'initiatives d'accueil du public : importer les fiches, "
               "les indexer, y chercher, répondre aux questions en citant les fiches, servir l'API.")


def cmd_import(args: argparse.Namespace) -> int:
    """Import a raw export into Markdown fiches; summary and warnings go to stderr."""
    from rag.catalogue.importer import REMOVAL_LABELS, import_export

    settings = get_settings()
    out_dir = args.out or settings.corpus_dir
    report = import_export(args.export, out_dir, settings.denylist_path, settings.places_path)
    for warning in report.warnings:
        print(f"attention : {warning}", file=sys.stderr)
    removed = ", ".join(f"{REMOVAL_LABELS.get(kind, kind)} {count}" for kind, count in report.removed.items())
    print(f"{len(report.fiches)} fiches importées dans {out_dir} ({len(report.written)} fichiers modifiés, "
          f"{len(report.warnings)} avertissements) ; retiré : {removed or 'rien'}", file=sys.stderr)
    if args.json:
        print_json([fiche.to_json() for fiche in report.fiches])
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """Build or update the index incrementally."""
    from rag.index.indexing import index_corpus

    report = index_corpus(get_settings(), rebuild=args.rebuild, progress=True)
    if args.json:
        print_json(report.to_json())
    else:
        print(f"ajoutés : {report.added}, mis à jour : {report.updated}, supprimés : {report.removed}, "
              f"inchangés : {report.unchanged} ({report.embedded} passages vectorisés)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search the index (one question, or one per stdin line with ``-``); the index is
    built or brought up to date first (message on stderr), the model loaded once."""
    from rag.search.filters import check_filters
    from rag.services import Services
    from rag.text import clean_question

    services = Services(get_settings())
    filters = check_filters(_filters(args.filter))
    check_k(args.k)  # before the indexing
    if args.question != "-":  # a bad question fails before any indexing
        clean_question(args.question, services.settings.max_question_chars)
    if services.ensure_index():
        print("index construit / mis à jour avant la recherche", file=sys.stderr)
    mode = args.mode or services.settings.search_mode
    if args.question != "-":
        hits = services.retriever.search(args.question, k=args.k, mode=mode, filters=filters)
        if args.json:
            print_json({"query": args.question, "hits": [hit_json(h) for h in hits]})
        for n, hit in enumerate([] if args.json else hits, start=1):
            print(f"{n:>2}. [{hit.score:.4f}] {hit.chunk.header} ({hit.chunk.fiche_id})")
            print(f"    {' '.join(hit.chunk.text.split())[:200]}")
        return 0
    for line in sys.stdin:
        if line.strip():
            try:
                hits = services.retriever.search(line.strip(), k=args.k, mode=mode, filters=filters)
                print_json({"query": line.strip(), "hits": [hit_json(h) for h in hits]})
            except RagError as exc:  # one bad line does not end the batch
                print_json({"query": line.strip(), "hits": [], "error": str(exc)})
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Retrieval evaluation: recall@k and MRR per mode and question kind."""
    from functools import partial

    from rag.config import load_settings
    from rag.search.evaluation import check_gold, evaluate, format_table, load_questions
    from rag.search.filters import infer_filters
    from rag.services import Services

    questions = load_questions(args.questions)
    services = Services(load_settings(**({"embedder": args.embedder} if args.embedder else {})))
    services.ensure_index()
    check_gold(questions, services.fiches)
    infer = partial(infer_filters, catalogue=services.fiches) if args.infer_filters else None
    report = evaluate(services.retriever, questions, k=args.k, embedder=services.settings.embedder,
                      filters_for=infer)
    if args.json:
        print_json(report.model_dump(mode="json"))
    else:
        print(format_table(report, details=args.details))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer a question with citations: streamed then the numbered sources, or one JSON
    document with ``--json``. A failing backend: the sources are still printed, one line
    on stderr says what to check, exit code 3."""
    from rag.answer.pipeline import ask
    from rag.cli.conversations import AskConversation
    from rag.search.filters import check_filters
    from rag.services import Services
    from rag.text import clean_question

    services = Services(get_settings())
    overrides = {key: value for key, value in (("base_url", args.base_url), ("model", args.model)) if value}
    # fail fast on bad input or settings, before the model load and the indexing
    clean_question(args.question, services.settings.max_question_chars)
    filters = check_filters(_filters(args.filter))
    check_k(args.k)  # before the indexing
    services.backend(args.backend, **overrides)
    services.prompts()
    stored = AskConversation(services.conversations, args.conversation) if args.conversation else None
    if services.ensure_index():
        print("index construit / mis à jour avant la réponse", file=sys.stderr)
    if stored:
        stored.start()
    run = ask(args.question, services, history=stored.history if stored else None, filters=filters,
              backend=args.backend, k=args.k, **overrides)
    pieces = stored.timed(run.stream()) if stored else run.stream()
    if args.json:
        for _ in pieces:
            pass
        result = run.result
        print_json({**answer_json(result), **(stored.save(run, filters) if stored else {})})
    else:
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
        result = run.result
        print("\n\n" + format_sources(result))
        if stored:
            stored.save(run, filters)
            stored.report()
    for notice in result.notices:
        print(f"note : {notice}", file=sys.stderr)
    if result.error:
        print(f"erreur: {result.error}", file=sys.stderr)
        return 3
    return 0


def _filters(values: Sequence[str] | None) -> dict[str, str]:
    """``["ville=Nantes"]`` -> ``{"ville": "Nantes"}``."""
    filters: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"filtre mal formé « {item} » : attendu CHAMP=VALEUR, par ex. commune=Nantes")
        filters[key.strip()] = value.strip()
    return filters


def build_parser() -> FrenchArgumentParser:
    """The argument parser, one sub-command per action; every text a user reads is French."""
    from rag.search.filters import FILTER_FIELDS

    filter_help = (f"filtre, répétable ; champs : {', '.join(FILTER_FIELDS)} (par ex. --filter commune=Brest "
                   "--filter region=Bretagne)")
    parser = FrenchArgumentParser(prog="python -m rag", description=DESCRIPTION,
                                  epilog="Aide d'une commande : python -m rag <commande> --help")
    parser.add_argument("-v", "--verbose", action="store_true", help="journaux de débogage sur stderr")
    sub = parser.add_commands("command", "COMMANDE", "la commande à lancer, parmi :")

    p = add_command(sub, "import", "importer un export brut de fiches en fiches Markdown")
    p.add_argument("export", type=Path, help="le fichier d'export brut à importer")
    p.add_argument("--out", type=Path, default=None, metavar="DOSSIER",
                   help="dossier où écrire les fiches (défaut : RAG_CORPUS_DIR)")
    p.add_argument("--json", action="store_true", help="affiche les fiches importées en JSON (un tableau)")
    p.set_defaults(func=cmd_import)

    p = add_command(sub, "index", "construire ou mettre à jour l'index des fiches")
    p.add_argument("--rebuild", action="store_true",
                   help="reconstruit tout l'index (sur un serveur Chroma, l'index publié sert jusqu'à la bascule)")
    p.add_argument("--json", action="store_true", help="affiche le bilan en JSON")
    p.set_defaults(func=cmd_index)

    p = add_command(sub, "search", "chercher des passages dans les fiches",
                    "L'index est construit ou mis à jour d'abord si besoin.")
    p.add_argument("question", help="la question, ou - pour en lire une par ligne sur stdin (sortie JSON)")
    p.add_argument("--k", type=int, default=10, metavar="N", help="nombre de passages affichés (défaut : 10)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default=None,
                   help="recherche hybride (hybrid), par le sens (dense) ou par les mots (bm25) ; "
                        "défaut : RAG_SEARCH_MODE, sinon hybrid")
    p.add_argument("--filter", action="append", metavar="CHAMP=VALEUR", help=filter_help)
    p.add_argument("--json", action="store_true", help="affiche les passages trouvés en JSON")
    p.set_defaults(func=cmd_search)

    p = add_command(sub, "eval", "évaluer la recherche sur un jeu de questions JSONL",
                    "Rappel (recall@k) et MRR par mode de recherche et par type de question.")
    p.add_argument("questions", type=Path, help="le fichier JSONL des questions (par ex. eval/dev.jsonl)")
    p.add_argument("--k", type=int, default=10, metavar="N",
                   help="nombre de passages pris en compte par question (défaut : 10)")
    p.add_argument("--embedder", default=None, metavar="NOM",
                   help="remplace RAG_EMBEDDER pour cette évaluation (prévoir un RAG_DATA_DIR à lui : "
                        "l'index dépend du modèle)")
    p.add_argument("--details", action="store_true", help="liste les questions dont la fiche attendue manque")
    p.add_argument("--infer-filters", action="store_true",
                   help="applique les filtres déduits de chaque question, comme le fait ask")
    p.add_argument("--json", action="store_true", help="affiche le rapport en JSON")
    p.set_defaults(func=cmd_eval)

    p = add_command(sub, "ask", "répondre à une question en citant les fiches",
                    "La réponse s'affiche au fil de l'eau, puis ses sources numérotées.")
    p.add_argument("question", help="la question posée, entre guillemets")
    p.add_argument("--backend", default=None, metavar="NOM",
                   help="moteur de réponse : extractive (sans modèle de langue), openai ou ollama ; "
                        "défaut : RAG_BACKEND, sinon extractive")
    p.add_argument("--base-url", default=None, metavar="URL",
                   help="adresse du serveur du modèle de langue (défaut : RAG_LLM_BASE_URL)")
    p.add_argument("--model", default=None, metavar="NOM", help="nom du modèle de langue (défaut : RAG_LLM_MODEL)")
    p.add_argument("--filter", action="append", metavar="CHAMP=VALEUR", help=filter_help)
    p.add_argument("--k", type=int, default=None, metavar="N",
                   help="nombre de passages sur lesquels s'appuie la réponse (défaut : RAG_TOP_K, sinon 6)")
    p.add_argument("--json", action="store_true", help="affiche la réponse et ses sources en un document JSON")
    p.add_argument("--conversation", default=None, metavar="new|ID",
                   help="poursuit la conversation enregistrée ID (son historique éclaire les questions de "
                        "suite), ou en commence une avec new")
    p.set_defaults(func=cmd_ask)

    add_serve_parsers(sub)  # serve, mcp
    add_conversation_parsers(sub)  # conversations, feedback
    return parser


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a handler, turning expected failures into one stderr line."""
    try:
        return func(args)
    except RagError as exc:
        print(f"erreur: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrompu", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # last resort: never a traceback for the user
        if os.environ.get("RAG_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.filename is not None:  # e.g. RAG_DATA_DIR is a file
            print(f"erreur: fichier ou dossier inaccessible : {exc.filename} ({exc.strerror}) ; vérifiez "
                  "RAG_DATA_DIR et RAG_CORPUS_DIR (un dossier où écrire, les fiches à lire)", file=sys.stderr)
            return 2
        print(f"erreur interne: {type(exc).__name__}: {exc} (RAG_DEBUG=1 pour le détail)", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rag`` and of the ``fiches-rag`` console script."""
    args = build_parser().parse(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return _run(args.func, args)


__all__ = ["main", "build_parser", "get_settings"]
