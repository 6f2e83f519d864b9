#!/usr/bin/env python3
"""Fails if modules of a crate import each other in a circle (a `use` chain
that comes back to where it started). Usage: import-circles.py SRC_DIR..."""
import os,re,sys
from collections import defaultdict
def modules(root, crate):
    mods={}
    for dp,_,fs in os.walk(root):
        for f in fs:
            if not f.endswith('.rs'): continue
            p=os.path.join(dp,f); rel=os.path.relpath(p,root)[:-3].split(os.sep)
            if rel[-1] in ('mod','lib','main'): rel=rel[:-1]
            if rel and rel[-1].endswith('_tests') or (rel and rel[-1]=='tests'): continue
            mods[tuple(rel)]=p
    return mods
def resolve(path, mods):
    # longest prefix that is a module
    for i in range(len(path),-1,-1):
        if tuple(path[:i]) in mods: return tuple(path[:i])
    return ()
found=[]
for root in sys.argv[1:]:
    mods=modules(root,None); edges=defaultdict(set)
    for m,p in mods.items():
        src=open(p).read()
        src=re.sub(r'#\[cfg\(test\)\]\s*mod tests \{.*', '', src, flags=re.S)
        for u in re.findall(r'^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);', src, flags=re.M):
            u=u.replace(' ','').replace('\n','')
            heads=[u]
            mm=re.match(r'(.*)::\{(.*)\}$',u)
            if mm: heads=[mm.group(1)+'::'+x for x in re.split(r',(?![^{]*\})',mm.group(2)) if x]
            for h in heads:
                parts=h.split('::')
                if parts[0]=='crate': base=[]; parts=parts[1:]
                elif parts[0]=='super':
                    base=list(m) if p.endswith(('mod.rs','lib.rs')) else list(m)
                    base=base[:-1]
                    parts=parts[1:]
                    while parts and parts[0]=='super': base=base[:-1]; parts=parts[1:]
                elif parts[0]=='self': base=list(m); parts=parts[1:]
                else:
                    if tuple(list(m)+[parts[0]]) in mods: base=list(m)
                    else: continue
                t=resolve(base+parts, mods)
                if t!=m and t!=(): 
                    # ignore a module using its own descendant
                    if t[:len(m)]==m: continue
                    edges[m].add(t)
    # cycles: SCC
    idx={};low={};st=[];on=set();res=[];c=[0]
    def sc(v):
        idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
        for w in edges[v]:
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: res.append(comp)
    for v in list(mods):
        if v not in idx: sc(v)
    for comp in res:
        print(root, 'import circle:', sorted('::'.join(x) for x in comp)); found.append(comp)
    # parent<->child: child imports ancestor item, ancestor imports child
    for m in mods:
        for t in edges[m]:
            if m[:len(t)]==t and any(x[:len(t)+1]==m[:len(t)+1] for x in edges.get(t,())):
                print(root,'import circle:', '::'.join(m),'->','::'.join(t) or 'crate'); found.append(m)

sys.exit(1 if found else 0)
