"""Order-language speed: parses per second (short and 500-character texts) and compile time.

Run as `python -m bench.bench_language`. One process, one core. Targets of issue 3:
>= 20,000 short parses per second, compile of a 2,000-product catalogue < 1 s.

`python -m bench.bench_language --before DIR` measures another copy of the package (DIR holds
gateway/language, e.g. `git archive <commit> gateway/language | tar -x -C DIR`) in the same
process, alternating, so before and after are compared under the same load.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from gateway.orders.catalog import CatalogItem, read_csv
from gateway.language import compile_language

ROOT = Path(__file__).resolve().parent.parent
SHORT_ZH = ["大米两袋，鸡蛋一板", "麻烦帮我带一袋米和两瓶酱油", "一斤半猪肉", "雞蛋十個", "机蛋两斤",
            "确认", "取消", "土豆五斤 西红柿两斤", "来两包方便面", "老样子", "牛奶一箱 谢谢",
            "我是三组的李大妈，要两袋米一桶油", "两瓶啤酒", "口罩两包，消毒液一瓶", "到哪了"]
SHORT_KO = ["쌀 두 포대 주세요", "계란 한 판하고 우유 두 팩", "네", "돼지고기 한 근 반", "라면 다섯 개",
            "취소", "감자 이 킬로, 양파 한 망", "맥주 두 병", "두부를 두 모", "지난번처럼 주세요"]


def generated_catalog(n: int, seed: int = 7) -> list[CatalogItem]:
    """n products with two-to-four character names and aliases, as a big co-operative has."""
    rng = random.Random(seed)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    units = ["袋", "斤", "公斤", "瓶", "桶", "个", "板", "盒", "包", "提", "箱", "卷", "把", "颗"]
    items: list[CatalogItem] = []
    seen: set[str] = set()
    while len(items) < n:
        name = "".join(rng.choice(chars) for _ in range(rng.randint(2, 4)))
        if name in seen:
            continue
        seen.add(name)
        aliases = tuple("".join(rng.choice(chars) for _ in range(rng.randint(2, 3)))
                        for _ in range(rng.randint(0, 2)))
        us = tuple(rng.sample(units, rng.randint(1, 3)))
        items.append(CatalogItem(f"p{len(items)}", name, aliases, us[0], us))
    return items


def rate(fn, texts: list[str], seconds: float = 2.0, clock=time.perf_counter) -> float:
    """Calls per second of fn over the texts, cycling, for about `seconds` of `clock`
    (wall time by default; `time.process_time` counts only this process's CPU, steadier when
    the machine is shared)."""
    for t in texts:
        fn(t)  # warm caches (pinyin index, OpenCC) as a running gateway has
    count = 0
    start = clock()
    while True:
        for t in texts:
            fn(t)
        count += len(texts)
        elapsed = clock() - start
        if elapsed >= seconds:
            return count / elapsed


def long_texts(short: list[str], sep: str, size: int = 500) -> list[str]:
    out = []
    for k in range(len(short)):
        parts: list[str] = []
        j = k
        while len(sep.join(parts)) < size:
            parts.append(short[j % len(short)])
            j += 1
        out.append(sep.join(parts)[:size])
    return out


def main() -> None:
    zh = compile_language("zh-CN", read_csv(ROOT / "gateway" / "orders" / "demo" / "catalog-zh-CN.csv"))
    ko = compile_language("ko-KR", read_csv(ROOT / "gateway" / "orders" / "demo" / "catalog-ko-KR.csv"))
    print(f"zh-CN short texts : {rate(zh.parse, SHORT_ZH):10,.0f} parses/s")
    print(f"zh-CN 500 chars   : {rate(zh.parse, long_texts(SHORT_ZH, '，')):10,.0f} parses/s")
    print(f"ko-KR short texts : {rate(ko.parse, SHORT_KO):10,.0f} parses/s")
    print(f"ko-KR 500 chars   : {rate(ko.parse, long_texts(SHORT_KO, ', ')):10,.0f} parses/s")
    big = generated_catalog(2000)
    for locale in ("zh-CN", "ko-KR"):
        compile_language(locale, big[:10])  # locale data and OpenCC loaded once per process
        start = time.perf_counter()
        lang = compile_language(locale, big)
        took = time.perf_counter() - start
        print(f"compile {locale}, 2,000 products: {took * 1000:8.1f} ms")
    start = time.perf_counter()
    lang = compile_language("zh-CN", big)
    lang.pinyin_index  # noqa: B018  built on the first text that needs the pinyin fallback
    print(f"compile zh-CN + pinyin index, 2,000 products: {(time.perf_counter() - start) * 1000:8.1f} ms")
    names = [f"{it.name}两{it.unit}" for it in big[:50]]
    print(f"zh-CN short texts, 2,000 products: {rate(lang.parse, names):10,.0f} parses/s")
    start = time.perf_counter()
    compile_language("zh-CN", read_csv(ROOT / "gateway" / "orders" / "demo" / "catalog-zh-CN.csv"))
    print(f"first compile in a fresh process includes OpenCC setup; demo re-compile: "
          f"{(time.perf_counter() - start) * 1000:.1f} ms")


def _load_package(root: str, name: str = "language_before"):
    """gateway/language of another checkout, imported under another name."""
    import importlib.util
    import sys

    init = Path(root) / "gateway" / "language" / "__init__.py"
    spec = importlib.util.spec_from_file_location(name, init,
                                                  submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compare(before_root: str, rounds: int = 3, seconds: float = 1.0) -> None:
    """Before and after, alternating, `rounds` times: the same figures as `run`, in CPU time
    of this process (time.process_time), so other work on the machine moves them less."""
    clock = time.process_time
    before = _load_package(before_root)
    import gateway.language as after

    zh_cat = read_csv(ROOT / "gateway" / "orders" / "demo" / "catalog-zh-CN.csv")
    ko_cat = read_csv(ROOT / "gateway" / "orders" / "demo" / "catalog-ko-KR.csv")
    big = generated_catalog(2000)
    rw = ROOT / "tests" / "language" / "realworld"
    rw_zh = read_csv(rw / "catalog_zh.csv")
    rw_texts = [line.split("\t")[1].replace("\\n", "\n")
                for line in (rw / "tuning_zh.tsv").read_text("utf-8").splitlines()
                if line and not line.startswith("#")]
    results: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for _ in range(rounds):
        for label, pkg in (("before", before), ("after", after)):
            zh = pkg.compile_language("zh-CN", zh_cat)
            ko = pkg.compile_language("ko-KR", ko_cat)
            rwl = pkg.compile_language("zh-CN", rw_zh)
            figures = {
                "zh short /s": rate(zh.parse, SHORT_ZH, seconds, clock),
                "zh 500 chars /s": rate(zh.parse, long_texts(SHORT_ZH, "，"), seconds, clock),
                "ko short /s": rate(ko.parse, SHORT_KO, seconds, clock),
                "ko 500 chars /s": rate(ko.parse, long_texts(SHORT_KO, ", "), seconds, clock),
                "zh real-world texts /s": rate(rwl.parse, rw_texts, seconds, clock),
            }
            for locale in ("zh-CN", "ko-KR"):
                pkg.compile_language(locale, big[:10])
                start = clock()
                pkg.compile_language(locale, big)
                figures[f"compile 2,000 {locale} ms"] = (clock() - start) * 1000
            for k, v in figures.items():
                results[label].setdefault(k, []).append(v)
    print(f"{'':28} {'before (min-max)':>24} {'after (min-max)':>24}")
    for k in results["after"]:
        b, a = results["before"][k], results["after"][k]
        print(f"{k:28} {min(b):11,.0f}-{max(b):<11,.0f} {min(a):11,.0f}-{max(a):<11,.0f}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--before":
        compare(sys.argv[2])
    else:
        main()


def run(seconds: float = 2.0) -> dict[str, float]:
    """The figures of `main()` as data, for `python -m bench`."""
    zh = compile_language("zh-CN", read_csv(ROOT / "gateway" / "orders" / "demo" / "catalog-zh-CN.csv"))
    ko = compile_language("ko-KR", read_csv(ROOT / "gateway" / "orders" / "demo" / "catalog-ko-KR.csv"))
    out = {
        "zh_short_per_s": rate(zh.parse, SHORT_ZH, seconds),
        "zh_500_chars_per_s": rate(zh.parse, long_texts(SHORT_ZH, "，"), seconds),
        "ko_short_per_s": rate(ko.parse, SHORT_KO, seconds),
        "ko_500_chars_per_s": rate(ko.parse, long_texts(SHORT_KO, ", "), seconds),
    }
    big = generated_catalog(2000)
    for locale in ("zh-CN", "ko-KR"):
        compile_language(locale, big[:10])
        start = time.perf_counter()
        compile_language(locale, big)
        out[f"compile_2000_{locale[:2]}_ms"] = (time.perf_counter() - start) * 1000
    return out
