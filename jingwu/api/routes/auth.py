"""Login: OAuth2 password form → bearer token (also set as an httpOnly cookie for the web)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.security import OAuth2PasswordRequestForm

from jingwu.api.auth import issue_token
from jingwu.api.deps import ActorDep, RequestIdDep, RuntimeDep
from jingwu.api.schemas import MeOut, TokenOut
from jingwu.domain.access import PERMISSIONS
from jingwu.services.accounts import authenticate

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], runtime: RuntimeDep, rid: RequestIdDep,
          response: Response) -> TokenOut:
    account = authenticate(runtime.engine, form.username, form.password, runtime.deps.clock(), rid)
    if account is None:
        raise HTTPException(401, detail=[{"field": "password", "message": "wrong username or password, or locked"}],
                            headers={"WWW-Authenticate": "Bearer"})
    ttl = runtime.settings.token_ttl_s
    token = issue_token(account, runtime.settings.secret_key, ttl)
    response.set_cookie("jingwu_token", token, max_age=ttl, httponly=True, samesite="strict")
    return TokenOut(access_token=token, expires_in=ttl, username=account.username, role=account.role.value,
                    org=account.org_code, unit_id=account.unit_id)


@router.post("/logout", status_code=204)
def logout(response: Response) -> None:
    response.delete_cookie("jingwu_token")


@router.get("/me", response_model=MeOut)
def me(actor: ActorDep) -> MeOut:
    return MeOut(username=actor.username, role=actor.role.value, org=actor.org_code, unit_id=actor.unit_id,
                 permissions=sorted(a.value for a in PERMISSIONS[actor.role]),
                 scope=sorted(actor.scope) if actor.scope is not None else None)
