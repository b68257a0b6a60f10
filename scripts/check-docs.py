#!/usr/bin/env python3
"""Checks the documentation's relative links: every link resolves to a file or folder of the
repository (and, for a #fragment into a markdown page, to one of its headings), and every page
under docs/ is linked from README.md or docs/README.md (directly or through docs/hone/README.md)."""
import os, re, sys, glob
root = sys.argv[1] if len(sys.argv) > 1 else '.'
os.chdir(root)
pages = ['README.md', 'benchmarks/README.md', 'tests/README.md'] + sorted(glob.glob('docs/**/*.md', recursive=True))
link_re = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
def slug(h):
    h = h.strip().lower()
    h = re.sub(r'[^\w\- ]', '', h)
    return h.replace(' ', '-')
def anchors(path):
    out, fence = set(), False
    for l in open(path):
        if l.startswith('```'): fence = not fence
        if not fence and l.startswith('#'):
            out.add(slug(l.lstrip('#')))
    return out
errors, linked = [], {}
for p in pages:
    fence = False
    for n, line in enumerate(open(p), 1):
        if line.lstrip().startswith('```'): fence = not fence; continue
        if fence: continue
        for target in link_re.findall(line):
            if re.match(r'^[a-z]+:', target): continue
            path, _, frag = target.partition('#')
            full = os.path.normpath(os.path.join(os.path.dirname(p), path)) if path else p
            if not os.path.exists(full):
                errors.append(f'{p}:{n}: {target}: no such file'); continue
            if frag and full.endswith('.md') and frag not in anchors(full):
                errors.append(f'{p}:{n}: {target}: no heading #{frag}')
            linked.setdefault(p, set()).add(full)
# reachability of docs pages from README.md and docs/README.md
seen, todo = set(), ['README.md', 'docs/README.md']
while todo:
    p = todo.pop()
    if p in seen: continue
    seen.add(p)
    for t in linked.get(p, ()):
        if os.path.isdir(t) and os.path.exists(os.path.join(t, 'README.md')): t = os.path.join(t, 'README.md')
        if t.startswith('docs/') and t.endswith('.md'): todo.append(t)
for d in sorted(glob.glob('docs/**/*.md', recursive=True)):
    direct = any(d in linked.get(src, ()) for src in ('README.md', 'docs/README.md'))
    if d not in seen: errors.append(f'{d}: not reachable from README.md or docs/README.md')
    elif not direct and d != 'docs/README.md':
        errors.append(f'{d}: linked only indirectly (not from README.md or docs/README.md)')
for e in errors: print(e)
print(f'{len(pages)} pages checked, {sum(len(v) for v in linked.values())} distinct link targets, {len(errors)} problems')
sys.exit(1 if errors else 0)
