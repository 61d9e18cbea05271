//! The page frame every page shares: head, navigation by role, the user's name
//! and the logout button. A page renders its body and hands it to [`page`].

use axum::response::Html;

use super::html::Esc;
use super::session::WebUser;
use leadgate_domain::role::Role;

/// One entry of the navigation; shown to the listed roles and to admins.
pub struct NavLink {
    pub path: &'static str,
    pub title: &'static str,
    pub roles: &'static [Role],
}

/// Every page reachable from the navigation. A new page adds its line here.
pub const NAV: &[NavLink] = &[
    NavLink {
        path: "/ui/review",
        title: "Очередь проверки",
        roles: &[Role::Operator],
    },
    NavLink {
        path: "/ui/board",
        title: "Мои продажи",
        roles: &[Role::Manager, Role::Head],
    },
    NavLink {
        path: "/ui/webhooks",
        title: "Вебхуки",
        roles: &[Role::Admin],
    },
    NavLink {
        path: "/ui/today",
        title: "Сегодня",
        roles: &[Role::Manager, Role::Head],
    },
    NavLink {
        path: "/ui/reports",
        title: "Отчёты",
        roles: &[Role::Manager, Role::Head],
    },
];

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Operator => "оператор",
        Role::Manager => "менеджер",
        Role::Head => "руководитель",
        Role::Admin => "администратор",
    }
}

/// The links `user` may follow.
pub fn nav_for(user: &WebUser) -> impl Iterator<Item = &'static NavLink> + '_ {
    NAV.iter().filter(|l| user.may(l.roles))
}

/// A whole page. `body` is markup the caller built, with every dynamic value
/// escaped; `title` is escaped here.
pub fn page(title: &str, user: Option<&WebUser>, body: &str) -> Html<String> {
    let header = match user {
        Some(u) => {
            let links: String = nav_for(u)
                .map(|l| format!("<a href=\"{}\">{}</a>", l.path, Esc(l.title)))
                .collect();
            // Every page tells how many of the person's tasks are late.
            let overdue = if u.overdue_tasks > 0 {
                format!(
                    "<a class=\"overdue-badge\" id=\"overdue-badge\" href=\"/ui/today\" \
                     title=\"Просроченные задачи\">Просрочено: {}</a>",
                    u.overdue_tasks
                )
            } else {
                String::new()
            };
            format!(
                "<header><a class=\"brand\" href=\"/ui\">leadgate</a><nav>{links}</nav>{overdue}\
                 <span class=\"who\">{} <small>({})</small></span>\
                 <form method=\"post\" action=\"/ui/logout\" class=\"logout\">{}\
                 <button type=\"submit\">Выйти</button></form></header>",
                Esc(&u.name),
                role_name(u.role),
                u.csrf_field()
            )
        }
        None => "<header><a class=\"brand\" href=\"/ui\">leadgate</a></header>".to_string(),
    };
    Html(format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — leadgate</title><link rel=\"stylesheet\" href=\"/ui/static/app.css\"></head>\
         <body>{header}<main>{body}</main></body></html>",
        Esc(title)
    ))
}
