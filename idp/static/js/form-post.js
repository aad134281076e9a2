// response_mode=form_post: send the authorization response to the service at once.
document.addEventListener("DOMContentLoaded", function () {
  document.getElementById("form-post").submit();
});
